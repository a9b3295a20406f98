#!/usr/bin/env python3
"""Independent judge: the official Meshtastic Python API against a faro-sim station device.

Connects with TCPInterface (--host) or SerialInterface (--port), checks what the handshake
produced, sends a reliable direct message to another scenario node that is only reachable over
the mesh, and waits (bounded) for the routing ACK *from the destination* (error_reason NONE),
then for the destination's scripted reply. Prints one PASS/FAIL line per check and exits
non-zero if any check failed.
"""

import argparse
import sys
import threading
import time

from pubsub import pub

import meshtastic.serial_interface
import meshtastic.tcp_interface

failures = 0


def check(name, ok, detail=""):
    global failures
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        failures += 1


def node_num(node_id):
    return int(node_id.lstrip("!"), 16)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--host", help="HOST:PORT of the TCP API")
    where.add_argument("--port", help="serial device path (PTY)")
    ap.add_argument("--label", default="", help="prefix for the check names")
    ap.add_argument("--owner", default="Grupo Beta Sásabe", help="expected owner long name")
    ap.add_argument("--station", default="!5a5a0001", help="expected local node id")
    ap.add_argument("--dest", default="!5a5a0401", help="a node reachable over the mesh (Sáric)")
    ap.add_argument("--reply", default="OK SAS-17 25", help="expected scripted reply")
    ap.add_argument("--timeout", type=float, default=60.0, help="bound for each wait, seconds")
    args = ap.parse_args()
    label = f"{args.label} " if args.label else ""
    dest = node_num(args.dest)

    lock = threading.Condition()
    routing = []  # (from, request_id, error_reason)
    texts = []  # (from, text)

    def on_receive(packet, interface):  # pubsub listener: every decoded packet
        decoded = packet.get("decoded", {})
        with lock:
            if "routing" in decoded:
                reason = decoded["routing"].get("errorReason", "NONE")
                routing.append((packet.get("from"), decoded.get("requestId"), reason))
            elif decoded.get("portnum") == "TEXT_MESSAGE_APP":
                texts.append((packet.get("from"), decoded.get("text", "")))
            lock.notify_all()

    pub.subscribe(on_receive, "meshtastic.receive")

    started = time.monotonic()
    try:
        if args.host:
            host, _, port = args.host.rpartition(":")
            iface = meshtastic.tcp_interface.TCPInterface(
                hostname=host, portNumber=int(port), connectNow=True, noNodes=False
            )
        else:
            iface = meshtastic.serial_interface.SerialInterface(devPath=args.port)
    except Exception as e:  # the client raises on a timed-out handshake
        check(f"{label}connect", False, repr(e))
        return 1
    check(f"{label}connect", iface.myInfo is not None, f"{time.monotonic() - started:.1f} s")
    try:
        my_num = iface.myInfo.my_node_num
        check(f"{label}my_node_num", my_num == node_num(args.station), f"!{my_num:08x}")
        owner = iface.getLongName()
        check(f"{label}owner", owner == args.owner, repr(owner))
        check(f"{label}destination in NodeDB", dest in (iface.nodesByNum or {}), args.dest)
        lora = iface.localNode.localConfig.lora
        check(f"{label}lora config", lora.hop_limit == 3 and lora.use_preset, f"hop_limit={lora.hop_limit}")

        first = []

        def onAckNak(packet):  # the name makes the client pass ACKs, not only NAKs
            with lock:
                first.append(packet)
                lock.notify_all()

        text = "FARO SAS-17 AMBULANCIA P1 2 pers 31.4746,-111.5449 Responda: OK SAS-17 <min>"
        sent = iface.sendText(text, destinationId=args.dest, wantAck=True, onResponse=onAckNak)
        sent_at = time.monotonic()
        check(f"{label}sendText", sent.id != 0 and sent.hop_limit == 3, f"id=0x{sent.id:08x}")

        def wait_for(pred):
            deadline = time.monotonic() + args.timeout
            with lock:
                while not pred():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    lock.wait(left)
                return True

        got_first = wait_for(lambda: first)
        reason = first[0]["decoded"]["routing"].get("errorReason", "NONE") if got_first else None
        check(f"{label}onResponse callback", got_first and reason == "NONE", f"errorReason={reason}")

        def real_ack():
            return any(f == dest and r == sent.id and e == "NONE" for f, r, e in routing)

        ok = wait_for(real_ack)
        check(
            f"{label}ACK from destination",
            ok,
            f"from {args.dest} after {time.monotonic() - sent_at:.1f} s; all results: "
            + ", ".join(f"!{f:08x}:{e}" for f, _, e in routing if _ == sent.id),
        )
        naks = [e for _, r, e in routing if r == sent.id and e != "NONE"]
        check(f"{label}no NAK", not naks, ",".join(naks))
        ok = wait_for(lambda: any(f == dest and t == args.reply for f, t in texts))
        check(f"{label}scripted reply", ok, repr(args.reply))
    finally:
        iface.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
