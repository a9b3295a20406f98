# The official Meshtastic Python client's side of faro-bench (run by the benchmark with the
# venv's python; GPL-3.0-or-later like the rest of Faro).
#
#   client.py ingest PORT N TIMEOUT_SECS   count meshtastic.receive callbacks until N
#   client.py idle PORT SECS               connect, stay idle, exit
#
# One line per event on stdout, flushed: "connected", "first", "done COUNT", "timeout COUNT",
# "idle". The benchmark timestamps the lines as they arrive.
import sys
import threading
import time

from pubsub import pub

import meshtastic.serial_interface

mode, port = sys.argv[1], sys.argv[2]
count = 0
want = 0
done = threading.Event()
lock = threading.Lock()


def on_receive(packet, interface):
    global count
    with lock:
        count += 1
        c = count
    if c == 1:
        print("first", flush=True)
    if want and c >= want:
        done.set()


pub.subscribe(on_receive, "meshtastic.receive")

if mode == "ingest":
    want = int(sys.argv[3])
    timeout = float(sys.argv[4])
    iface = meshtastic.serial_interface.SerialInterface(devPath=port)
    print("connected", flush=True)
    if done.wait(timeout):
        print(f"done {count}", flush=True)
    else:
        print(f"timeout {count}", flush=True)
    iface.close()
elif mode == "idle":
    secs = float(sys.argv[3])
    iface = meshtastic.serial_interface.SerialInterface(devPath=port)
    print("connected", flush=True)
    time.sleep(secs)
    print("idle", flush=True)
    iface.close()
else:
    print(f"unknown mode {mode}", file=sys.stderr)
    sys.exit(2)
