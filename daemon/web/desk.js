// Faro desk: plain JS, no framework, no outside requests (docs/SECURITY.md).
// Text from the air is hostile: it goes into the page only as textContent.
"use strict";

const DEBOUNCE_MS = 300;
const RETRY_MS = 5000;

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) {
    node.textContent = String(text);
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    node.setAttribute(k, v);
  }
  return node;
}

function say(text) {
  const status = document.getElementById("status");
  if (status) {
    status.textContent = text;
  }
}

async function getJson(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  if (res.status === 401) {
    window.location.assign("/login");
    throw new Error("sin sesión");
  }
  if (!res.ok) {
    throw new Error(path + ": " + res.status);
  }
  return res.json();
}

// ---- Login page ----

function loginPage() {
  const form = document.getElementById("login");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    say("");
    const data = new FormData(form);
    const res = await fetch("/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: data.get("name"), password: data.get("password") }),
    });
    if (res.ok) {
      window.location.assign("/");
    } else if (res.status === 429) {
      say("Demasiados intentos: espere e intente de nuevo.");
    } else {
      say("Nombre o contraseña incorrectos.");
    }
  });
}

// ---- Queue page ----

let csrf = "";
let pending = null;

function byUrgency(a, b) {
  if (a.priority !== b.priority) {
    return a.priority - b.priority;
  }
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;
}

function card(inc) {
  const p = Math.min(Math.max(Number(inc.priority) || 4, 1), 4);
  const li = el("li", null, { class: "incident p" + p });
  const head = el("div");
  head.append(el("span", "P" + p, { class: "badge", title: "Priority " + p }));
  head.append(el("strong", inc.id));
  head.append(document.createTextNode(" · " + inc.kind));
  li.append(head);

  const meta = [];
  if (inc.people !== null && inc.people !== undefined) {
    meta.push(inc.people + " personas");
  }
  meta.push(inc.state === "new" ? "nuevo" : inc.state === "acknowledged" ? "reconocido" : inc.state);
  if (inc.team) {
    meta.push("equipo " + inc.team);
  }
  if (inc.reporter_name || inc.reporter) {
    meta.push(inc.reporter_name || inc.reporter);
  }
  meta.push(inc.last_heard_at);
  li.append(el("div", meta.join(" · "), { class: "meta", title: "people · state · team · reporter · last heard" }));

  if (Array.isArray(inc.flags) && inc.flags.length) {
    li.append(el("div", inc.flags.join(", "), { class: "meta", title: "Vulnerability flags" }));
  }
  if (Array.isArray(inc.priority_why) && inc.priority_why.length) {
    const why = el("ul", null, { class: "why", title: "Why this priority" });
    for (const reason of inc.priority_why) {
      why.append(el("li", reason));
    }
    li.append(why);
  }
  if (inc.state === "new") {
    const ack = el("button", "Reconocer", { type: "button", title: "Acknowledge" });
    ack.addEventListener("click", () => acknowledge(inc.id, ack));
    li.append(ack);
  }
  return li;
}

async function acknowledge(id, button) {
  button.disabled = true;
  try {
    const res = await fetch("/v1/incidents/" + encodeURIComponent(id) + "/ack", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Faro-CSRF": csrf, "Content-Type": "application/json" },
      body: "{}",
    });
    if (res.status === 401) {
      window.location.assign("/login");
      return;
    }
    if (!res.ok) {
      say("No se pudo reconocer " + id + " (" + res.status + ")");
    }
  } catch (e) {
    say("Sin conexión con farod.");
  } finally {
    button.disabled = false;
  }
  refresh();
}

async function refresh() {
  try {
    const open = await getJson("/v1/incidents?state=open");
    open.sort(byUrgency);
    const queue = document.getElementById("queue");
    queue.replaceChildren(...open.map(card));
    document.getElementById("empty").hidden = open.length > 0;
    say("");
  } catch (e) {
    say("No se pudo leer la cola: " + e.message);
  }
}

function soon() {
  if (pending !== null) {
    clearTimeout(pending);
  }
  pending = setTimeout(() => {
    pending = null;
    refresh();
  }, DEBOUNCE_MS);
}

function subscribe() {
  const live = document.getElementById("live");
  const source = new EventSource("/v1/stream");
  source.addEventListener("open", () => {
    live.textContent = "en vivo";
    live.classList.add("on");
    soon();
  });
  source.addEventListener("audit", soon);
  source.addEventListener("lagged", soon);
  source.addEventListener("error", () => {
    live.textContent = "sin conexión";
    live.classList.remove("on");
    // EventSource retries by itself (with Last-Event-ID) unless the answer was not a stream,
    // such as a 401 once the session has ended: then ask who we are (a 401 goes to /login)
    // and open a new one a little later.
    if (source.readyState === EventSource.CLOSED) {
      getJson("/v1/me")
        .then(() => setTimeout(subscribe, RETRY_MS))
        .catch(() => setTimeout(subscribe, RETRY_MS));
    }
  });
}

async function queuePage() {
  const me = await getJson("/v1/me");
  csrf = me.csrf;
  document.getElementById("who").textContent = me.name + " (" + me.role + ")";
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/logout", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Faro-CSRF": csrf },
    });
    window.location.assign("/login");
  });
  await refresh();
  subscribe();
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "login") {
    loginPage();
  } else if (page === "queue") {
    queuePage().catch((e) => say(e.message));
  }
});
