// Faro desk: one incident (`/incident?id=SAS-12`). Needs desk.js (loaded first).
// Text from the air is hostile: it goes into the page only as textContent.
"use strict";

const OUTCOMES = [
  "rescued",
  "transferred_hospital",
  "transferred_shelter",
  "false_alarm",
  "not_found",
  "cancelled",
];

let incidentId = "";
let shown = null; // the incident as last read

function fact(list, key, value) {
  list.append(el("dt", t(key)));
  list.append(el("dd", value === null || value === undefined || value === "" ? t("none") : value));
}

function positionText(inc) {
  if (inc.lat === null || inc.lat === undefined || inc.lon === null || inc.lon === undefined) {
    return t("unknown");
  }
  let text = Number(inc.lat).toFixed(5) + ", " + Number(inc.lon).toFixed(5);
  if (inc.precision_m) {
    text += " " + t("precision", { m: Math.round(inc.precision_m) });
  }
  if (inc.position_source) {
    text += " (" + inc.position_source + ")";
  }
  return text;
}

function showHeader(inc) {
  const p = Math.min(Math.max(Number(inc.priority) || 4, 1), 4);
  const article = document.getElementById("incident");
  article.className = "detail p" + p;
  article.dataset.id = inc.id;
  article.dataset.state = inc.state;
  const badge = document.getElementById("badge");
  badge.textContent = "P" + p;
  badge.title = t("priority", { p: p });
  document.getElementById("incident-id").textContent = inc.id;
  document.getElementById("kind").textContent = tName("kinds", inc.kind);
  document.getElementById("title").textContent = t("title_incident") + " " + inc.id;
  document.title = "Faro · " + inc.id;

  const facts = document.getElementById("facts");
  facts.replaceChildren();
  fact(facts, "f_state", tName("states", inc.state));
  if (inc.outcome) {
    fact(facts, "f_outcome", tName("outcomes", inc.outcome));
  }
  fact(facts, "f_people", inc.people === null || inc.people === undefined ? t("unknown") : tn("people", inc.people));
  if (Array.isArray(inc.flags) && inc.flags.length) {
    fact(facts, "flags", inc.flags.map((f) => tName("flag_names", f)).join(", "));
  }
  fact(facts, "f_team", inc.team);
  fact(facts, "f_place", inc.where);
  fact(facts, "f_position", positionText(inc));
  fact(facts, "f_reporter", inc.reporter_name ? inc.reporter_name + " (" + inc.reporter + ")" : inc.reporter);
  fact(facts, "f_source", inc.source);
  fact(facts, "f_created", fmtTime(inc.created_at));
  fact(facts, "f_heard", fmtTime(inc.last_heard_at));
  fact(facts, "f_heard_count", inc.heard_count);

  const why = document.getElementById("why");
  why.title = t("why");
  why.replaceChildren(...(inc.priority_why || []).map((r) => el("li", reasonText(r))));
}

function showConversation(inc) {
  const list = document.getElementById("conversation");
  const messages = Array.isArray(inc.messages) ? inc.messages : [];
  if (!messages.length) {
    list.replaceChildren(el("li", t("no_messages"), { class: "none" }));
    return;
  }
  list.replaceChildren(
    ...messages.map((m) => {
      const li = el("li", null, { class: "message " + (m.direction === "out" ? "out" : "in") });
      const meta = [fmtTime(m.at), t(m.direction === "out" ? "dir_out" : "dir_in"), m.node];
      if (m.delivery) {
        meta.push(m.delivery);
      }
      li.append(el("div", meta.join(" · "), { class: "meta" }));
      li.append(el("div", m.text, { class: "text" }));
      return li;
    })
  );
}

function showAmbulance(inc) {
  const list = document.getElementById("ambulance");
  const asked = Array.isArray(inc.ambulance) ? inc.ambulance : [];
  if (!asked.length) {
    list.replaceChildren(el("li", t("no_ambulance"), { class: "none" }));
    return;
  }
  list.replaceChildren(
    ...asked.map((a) => {
      const parts = [
        a.municipality,
        tName("ambulance_states", a.state),
        fmtTime(a.requested_at),
      ];
      if (a.eta_minutes !== null && a.eta_minutes !== undefined) {
        parts.push(t("eta", { m: a.eta_minutes }));
      }
      if (a.phone) {
        parts.push(a.phone);
      }
      if (a.reason) {
        parts.push(a.reason);
      }
      return el("li", parts.join(" · "), { "data-state": a.state });
    })
  );
}

function showAudit(inc) {
  const events = (Array.isArray(inc.events) ? inc.events.slice() : []).sort((a, b) => a.id - b.id);
  document.getElementById("audit").replaceChildren(
    ...events.map((e) => {
      const li = el("li", null, { "data-event": String(e.id) });
      li.append(el("time", fmtTime(e.at), { datetime: e.at }));
      li.append(document.createTextNode(" · "));
      li.append(el("span", e.who, { class: "who" }));
      li.append(document.createTextNode(" · "));
      li.append(el("span", e.what, { class: "what" }));
      return li;
    })
  );
}

function showActions(inc) {
  const actions = document.getElementById("actions");
  actions.hidden = !canWrite();
  const closed = inc.state === "closed";
  const visible = {
    ack: inc.state === "new",
    assign: !closed,
    ambulance: !closed,
    note: true,
    position: !closed,
    close: !closed,
  };
  for (const button of actions.querySelectorAll("button[data-action]")) {
    const shownNow = visible[button.dataset.action] !== false;
    button.hidden = !shownNow;
    const row = button.closest(".row");
    if (row && row.querySelectorAll("button[data-action]").length === 1) {
      row.hidden = !shownNow;
    }
  }
}

async function fillTeams() {
  const select = document.getElementById("assign-team");
  const keep = select.value;
  let teams = [];
  try {
    teams = await getJson("/v1/teams");
  } catch (e) {
    teams = [];
  }
  const options = [el("option", t("nearest_team"), { value: "" })];
  for (const team of teams) {
    options.push(el("option", team.name + " · " + tName("team_states", teamState(team)), { value: team.name }));
  }
  select.replaceChildren(...options);
  select.value = teams.some((x) => x.name === keep) ? keep : "";
}

function fillOutcomes() {
  const select = document.getElementById("close-outcome");
  select.title = t("outcome");
  select.replaceChildren(...OUTCOMES.map((o) => el("option", tName("outcomes", o), { value: o })));
}

async function loadIncident() {
  const missing = document.getElementById("missing");
  const article = document.getElementById("incident");
  if (!incidentId) {
    missing.textContent = t("no_id");
    missing.hidden = false;
    article.hidden = true;
    return;
  }
  let inc;
  try {
    inc = await getJson("/v1/incidents/" + encodeURIComponent(incidentId));
  } catch (e) {
    if (e.status === 404 || e.status === 400) {
      missing.textContent = t("unknown_incident", { id: incidentId });
      missing.hidden = false;
      article.hidden = true;
    } else {
      say(t("load_failed", { error: e.message }));
    }
    return;
  }
  shown = inc;
  missing.hidden = true;
  article.hidden = false;
  showHeader(inc);
  showConversation(inc);
  showAmbulance(inc);
  showAudit(inc);
  showActions(inc);
}

async function refreshIncident() {
  await Promise.all([loadIncident(), refreshAlert(), canWrite() ? fillTeams() : null]);
}

// The nearest team that is available (ok, nothing assigned) to the incident, if any.
function nearestAvailable() {
  const teams = shown && Array.isArray(shown.nearest_teams) ? shown.nearest_teams : [];
  const team = teams.find(
    (x) => x.status === "ok" && Array.isArray(x.assigned) && !x.assigned.length && x.distance_km !== null && x.distance_km !== undefined
  );
  return team ? team.name : null;
}

// "31.47, -111.54" (or with a space, or a semicolon) as numbers; anything else is a place.
function positionBody(text) {
  const m = text.trim().match(/^(-?\d+(?:\.\d+)?)\s*[,; ]\s*(-?\d+(?:\.\d+)?)$/);
  if (m) {
    return { lat: Number(m[1]), lon: Number(m[2]) };
  }
  return { place: text.trim() };
}

// The body an action sends, or null (and a word in #status) when it cannot be sent yet.
function actionBody(action) {
  switch (action) {
    case "ack":
      return {};
    case "ambulance":
      return {};
    case "assign": {
      const picked = document.getElementById("assign-team").value;
      const team = picked || nearestAvailable();
      if (!team) {
        say(t("no_team_nearby"));
        return null;
      }
      return { team: team };
    }
    case "note": {
      const text = document.getElementById("note-text").value;
      if (!text.trim()) {
        say(t("note_empty"));
        return null;
      }
      return { text: text };
    }
    case "position": {
      const text = document.getElementById("position-text").value;
      if (!text.trim()) {
        say(t("position_empty"));
        return null;
      }
      return positionBody(text);
    }
    case "close": {
      const body = { outcome: document.getElementById("close-outcome").value };
      const note = document.getElementById("close-note").value.trim();
      if (note) {
        body.note = note;
      }
      return body;
    }
    default:
      return null;
  }
}

async function act(button) {
  const action = button.dataset.action;
  say("");
  const body = actionBody(action);
  if (body === null) {
    return;
  }
  button.disabled = true;
  try {
    const inc = await postJson(
      "/v1/incidents/" + encodeURIComponent(incidentId) + "/" + action,
      body
    );
    if (action === "note") {
      document.getElementById("note-text").value = "";
    } else if (action === "position") {
      document.getElementById("position-text").value = "";
    } else if (action === "close") {
      document.getElementById("close-note").value = "";
    }
    say(t("done", { action: tName("action_names", action) }));
    if (inc && inc.id) {
      shown = inc;
    }
  } catch (e) {
    say(t("refused", { error: e.message }));
  } finally {
    button.disabled = false;
  }
  refreshIncident();
}

async function incidentPage() {
  await startPage();
  incidentId = (new URLSearchParams(window.location.search).get("id") || "").trim();
  fillOutcomes();
  for (const button of document.querySelectorAll("#actions button[data-action]")) {
    button.addEventListener("click", () => act(button));
  }
  reload = refreshIncident;
  await refreshIncident();
  if (incidentId) {
    subscribe(refreshIncident);
  }
}

PAGES.incident = incidentPage;
