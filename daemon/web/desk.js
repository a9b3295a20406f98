// Faro desk: plain JS, no framework, no outside requests (docs/SECURITY.md).
// Text from the air is hostile: it goes into the page only as textContent.
//
// This file holds what every page shares (the words in Spanish and English, times in the
// station's zone, the header, the P1 alert, the live feed) and the login and queue pages;
// incident.js and teams.js add their pages to PAGES. Each page is chosen by
// <body data-page="...">.
"use strict";

// Incidents asked for at a time (the API's most).
const PAGE = 1000;
const RETRY_MS = 5000;
const LANG_KEY = "faro.lang";

// ---- Words: Spanish first, English second ----

const I18N = {
  es: {
    title_queue: "Cola de incidentes",
    title_incident: "Incidente",
    title_teams: "Equipos",
    title_map: "Mapa",
    title_login: "Faro · Iniciar sesión",
    nav_queue: "Cola",
    nav_teams: "Equipos",
    nav_map: "Mapa",
    language: "Idioma",
    logout: "Cerrar sesión",
    notify: "Activar avisos",
    notify_on: "Avisos activados",
    notify_denied: "Avisos bloqueados",
    live_on: "en vivo",
    live_off: "sin conexión",
    zone: "Hora de la estación: {zone}",
    name: "Nombre",
    password: "Contraseña",
    enter: "Entrar",
    too_many: "Demasiados intentos: espere e intente de nuevo.",
    wrong_login: "Nombre o contraseña incorrectos.",
    offline: "Sin conexión con farod.",
    no_session: "sin sesión",
    http_error: "error {status}",
    queue_failed: "No se pudo leer la cola: {error}",
    ack_failed: "No se pudo reconocer {id}: {error}",
    empty: "Sin incidentes abiertos.",
    ack: "Reconocer",
    priority: "Prioridad {p}",
    people_one: "{n} persona",
    people_other: "{n} personas",
    people_unknown: "personas: ¿?",
    team_of: "equipo {team}",
    heard_at: "oído {time}",
    why: "Por qué esta prioridad",
    flags: "Vulnerabilidad",
    alert_title: "P1 sin reconocer",
    alert_one: "{n} incidente P1 sin reconocer",
    alert_other: "{n} incidentes P1 sin reconocer",
    notify_title: "Faro: P1 sin reconocer",
    // Incident page
    unknown_incident: "No existe el incidente {id}.",
    no_id: "Falta el incidente: abra uno desde la cola.",
    load_failed: "No se pudo leer el incidente: {error}",
    f_state: "Estado",
    f_kind: "Tipo",
    f_people: "Personas",
    f_team: "Equipo",
    f_place: "Lugar",
    f_position: "Posición",
    f_reporter: "Quién avisó",
    f_created: "Abierto",
    f_heard: "Oído por última vez",
    f_heard_count: "Veces oído",
    f_outcome: "Resultado",
    f_source: "Origen",
    precision: "± {m} m",
    none: "—",
    unknown: "desconocido",
    conversation: "Conversación",
    no_messages: "Sin mensajes.",
    dir_in: "recibido",
    dir_out: "enviado",
    ambulance: "Ambulancia",
    no_ambulance: "No se ha pedido ambulancia.",
    eta: "llega en {m} min",
    audit: "Registro",
    actions: "Acciones",
    assign: "Asignar equipo",
    nearest_team: "El equipo disponible más cercano",
    no_team_nearby: "No hay equipo disponible cerca (o el incidente no tiene posición): elija uno.",
    ask_ambulance: "Pedir ambulancia",
    note: "Añadir nota",
    note_placeholder: "Nota para el registro",
    note_empty: "Escriba la nota primero.",
    position: "Fijar posición",
    position_placeholder: "lat, lon (31.47, -111.54) o un lugar",
    position_empty: "Escriba una posición o un lugar.",
    close: "Cerrar incidente",
    close_note: "Nota del cierre (opcional)",
    outcome: "Resultado",
    done: "Hecho: {action}.",
    refused: "{error}",
    // Teams page
    t_name: "Equipo",
    t_status: "Estado",
    t_position: "Última posición",
    t_when: "Cuándo",
    t_battery: "Batería",
    t_open: "Incidentes abiertos",
    t_note: "Última nota",
    no_teams: "No hay equipos configurados.",
    teams_failed: "No se pudo leer los equipos: {error}",
    // Map page
    map_hint: "Mapa sin teselas ni red: contornos de Natural Earth, localidades de GeoNames",
    legend: "Leyenda",
    legend_p1: "Prioridad 1",
    legend_p2: "Prioridad 2",
    legend_p3: "Prioridad 3",
    legend_p4: "Prioridad 4",
    legend_station: "Estación",
    legend_station_title: "Esta estación",
    legend_team: "Equipo",
    legend_team_title: "Equipo de patrulla (tenue: sin noticias recientes o perdido)",
    legend_tower: "Torre",
    legend_tower_title: "Torre con botón de pánico",
    legend_muni: "Municipio",
    legend_muni_title: "Municipio con ambulancia",
    legend_search: "Búsqueda",
    legend_search_title: "Zona de búsqueda (petición de localización)",
    legend_place: "Localidad",
    legend_place_title: "Localidad del nomenclátor: a partir del zoom 7, con nombre a partir del 9",
    map_priority: "P{p}",
    map_open_incident: "Abrir incidente",
    map_team: "Equipo {name}",
    map_position_at: "posición {time}",
    map_assigned: "asignado: {ids}",
    map_searched_one: "{n} persona buscada",
    map_searched_other: "{n} personas buscadas",
    map_radius: "radio {km} km",
    map_ambulance: "ambulancia",
    map_tower: "torre con botón de pánico",
    map_station: "estación {code}",
    map_population: "{n} hab.",
    map_failed: "No se pudo leer el mapa: {error}",
    places_failed: "No se pudieron leer las localidades: {error}",
    outlines_failed: "Sin contornos: {error}",
    states: {
      new: "nuevo",
      acknowledged: "reconocido",
      assigned: "asignado",
      en_route: "en camino",
      on_scene: "en el lugar",
      closed: "cerrado",
    },
    kinds: {
      medical: "emergencia médica",
      drowning: "ahogamiento",
      heat: "golpe de calor",
      violence: "violencia",
      lost: "extraviados",
      distress: "auxilio",
      info: "información",
    },
    outcomes: {
      rescued: "rescatados",
      transferred_hospital: "trasladados al hospital",
      transferred_shelter: "trasladados a un albergue",
      false_alarm: "falsa alarma",
      not_found: "no encontrados",
      cancelled: "cancelado",
    },
    flag_names: {
      unaccompanied_minor: "menor no acompañado",
      children: "niños",
      disability: "discapacidad",
      pregnant: "embarazada",
      injured: "herido",
      unconscious: "inconsciente",
      not_breathing: "no respira",
      bleeding: "sangrado",
      dehydration: "deshidratación",
      elderly: "persona mayor",
      abandoned: "abandonados",
      trapped: "atrapados",
      body_found: "cuerpo encontrado",
    },
    team_states: {
      ok: "disponible",
      stale: "sin noticias recientes",
      lost: "perdido",
      unknown: "desconocido",
      busy: "ocupado",
    },
    search_states: {
      open: "abierta",
      searching: "en búsqueda",
      closed: "cerrada",
    },
    ambulance_states: {
      pending: "pendiente",
      sent: "enviada",
      delivered: "entregada",
      accepted: "aceptada",
      declined: "rechazada",
      timed_out: "sin respuesta",
      undeliverable: "no se pudo entregar",
      arrived: "llegó",
      cancelled: "cancelada",
      call: "llamar por teléfono",
    },
    action_names: {
      ack: "reconocido",
      assign: "equipo asignado",
      ambulance: "ambulancia pedida",
      note: "nota añadida",
      position: "posición fijada",
      close: "incidente cerrado",
    },
  },
  en: {
    title_queue: "Incident queue",
    title_incident: "Incident",
    title_teams: "Teams",
    title_map: "Map",
    title_login: "Faro · Log in",
    nav_queue: "Queue",
    nav_teams: "Teams",
    nav_map: "Map",
    language: "Language",
    logout: "Log out",
    notify: "Enable notifications",
    notify_on: "Notifications on",
    notify_denied: "Notifications blocked",
    live_on: "live",
    live_off: "offline",
    zone: "Station time: {zone}",
    name: "Name",
    password: "Password",
    enter: "Log in",
    too_many: "Too many attempts: wait and try again.",
    wrong_login: "Wrong name or password.",
    offline: "No connection to farod.",
    no_session: "no session",
    http_error: "error {status}",
    queue_failed: "Could not read the queue: {error}",
    ack_failed: "Could not acknowledge {id}: {error}",
    empty: "No open incidents.",
    ack: "Acknowledge",
    priority: "Priority {p}",
    people_one: "{n} person",
    people_other: "{n} people",
    people_unknown: "people: ?",
    team_of: "team {team}",
    heard_at: "heard {time}",
    why: "Why this priority",
    flags: "Vulnerability",
    alert_title: "Unacknowledged P1",
    alert_one: "{n} unacknowledged P1 incident",
    alert_other: "{n} unacknowledged P1 incidents",
    notify_title: "Faro: unacknowledged P1",
    unknown_incident: "There is no incident {id}.",
    no_id: "No incident given: open one from the queue.",
    load_failed: "Could not read the incident: {error}",
    f_state: "State",
    f_kind: "Kind",
    f_people: "People",
    f_team: "Team",
    f_place: "Place",
    f_position: "Position",
    f_reporter: "Reported by",
    f_created: "Opened",
    f_heard: "Last heard",
    f_heard_count: "Times heard",
    f_outcome: "Outcome",
    f_source: "Source",
    precision: "± {m} m",
    none: "—",
    unknown: "unknown",
    conversation: "Conversation",
    no_messages: "No messages.",
    dir_in: "received",
    dir_out: "sent",
    ambulance: "Ambulance",
    no_ambulance: "No ambulance asked for.",
    eta: "arrives in {m} min",
    audit: "Audit trail",
    actions: "Actions",
    assign: "Assign team",
    nearest_team: "The nearest available team",
    no_team_nearby: "No available team nearby (or the incident has no position): pick one.",
    ask_ambulance: "Ask for an ambulance",
    note: "Add note",
    note_placeholder: "Note for the record",
    note_empty: "Write the note first.",
    position: "Set position",
    position_placeholder: "lat, lon (31.47, -111.54) or a place",
    position_empty: "Write a position or a place.",
    close: "Close incident",
    close_note: "Closing note (optional)",
    outcome: "Outcome",
    done: "Done: {action}.",
    refused: "{error}",
    t_name: "Team",
    t_status: "Status",
    t_position: "Last position",
    t_when: "When",
    t_battery: "Battery",
    t_open: "Open incidents",
    t_note: "Last note",
    no_teams: "No teams configured.",
    teams_failed: "Could not read the teams: {error}",
    map_hint: "Map with no tiles and no network: outlines from Natural Earth, places from GeoNames",
    legend: "Legend",
    legend_p1: "Priority 1",
    legend_p2: "Priority 2",
    legend_p3: "Priority 3",
    legend_p4: "Priority 4",
    legend_station: "Station",
    legend_station_title: "This station",
    legend_team: "Team",
    legend_team_title: "Patrol team (faded: not heard lately or lost)",
    legend_tower: "Tower",
    legend_tower_title: "Tower with a panic button",
    legend_muni: "Municipality",
    legend_muni_title: "Municipality with an ambulance",
    legend_search: "Search",
    legend_search_title: "Search area (location request)",
    legend_place: "Place",
    legend_place_title: "Place from the gazetteer: from zoom 7 on, named from zoom 9",
    map_priority: "P{p}",
    map_open_incident: "Open incident",
    map_team: "Team {name}",
    map_position_at: "position {time}",
    map_assigned: "assigned: {ids}",
    map_searched_one: "{n} person searched for",
    map_searched_other: "{n} people searched for",
    map_radius: "radius {km} km",
    map_ambulance: "ambulance",
    map_tower: "tower with a panic button",
    map_station: "station {code}",
    map_population: "pop. {n}",
    map_failed: "Could not read the map: {error}",
    places_failed: "Could not read the places: {error}",
    outlines_failed: "No outlines: {error}",
    states: {
      new: "new",
      acknowledged: "acknowledged",
      assigned: "assigned",
      en_route: "en route",
      on_scene: "on scene",
      closed: "closed",
    },
    kinds: {
      medical: "medical",
      drowning: "drowning",
      heat: "heat illness",
      violence: "violence",
      lost: "lost",
      distress: "distress",
      info: "information",
    },
    outcomes: {
      rescued: "rescued",
      transferred_hospital: "taken to hospital",
      transferred_shelter: "taken to a shelter",
      false_alarm: "false alarm",
      not_found: "not found",
      cancelled: "cancelled",
    },
    flag_names: {
      unaccompanied_minor: "unaccompanied minor",
      children: "children",
      disability: "disability",
      pregnant: "pregnant",
      injured: "injured",
      unconscious: "unconscious",
      not_breathing: "not breathing",
      bleeding: "bleeding",
      dehydration: "dehydration",
      elderly: "elderly",
      abandoned: "abandoned",
      trapped: "trapped",
      body_found: "body found",
    },
    team_states: {
      ok: "available",
      stale: "not heard lately",
      lost: "lost",
      unknown: "unknown",
      busy: "busy",
    },
    search_states: {
      open: "open",
      searching: "searching",
      closed: "closed",
    },
    ambulance_states: {
      pending: "pending",
      sent: "sent",
      delivered: "delivered",
      accepted: "accepted",
      declined: "declined",
      timed_out: "no answer",
      undeliverable: "undeliverable",
      arrived: "arrived",
      cancelled: "cancelled",
      call: "call by phone",
    },
    action_names: {
      ack: "acknowledged",
      assign: "team assigned",
      ambulance: "ambulance asked for",
      note: "note added",
      position: "position set",
      close: "incident closed",
    },
  },
};

function pickLang() {
  let saved = null;
  try {
    saved = window.localStorage.getItem(LANG_KEY);
  } catch (e) {
    saved = null;
  }
  if (saved && I18N[saved]) {
    return saved;
  }
  const nav = String(navigator.language || "es").toLowerCase();
  if (nav.startsWith("es")) {
    return "es";
  }
  return nav ? "en" : "es";
}

const lang = pickLang();

// The word for `key` in the operator's language, with `{name}` filled from `vars`.
function t(key, vars) {
  const text = key in I18N[lang] ? I18N[lang][key] : key in I18N.es ? I18N.es[key] : key;
  return String(text).replace(/\{(\w+)\}/g, (m, name) =>
    vars && vars[name] !== undefined && vars[name] !== null ? String(vars[name]) : m
  );
}

// `key_one` or `key_other` by the language's plural rules, with `{n}`.
function tn(key, n, vars) {
  const form = new Intl.PluralRules(lang).select(Number(n)) === "one" ? "one" : "other";
  return t(key + "_" + form, Object.assign({ n: n }, vars || {}));
}

// A name from one of the tables (states, kinds...), or the name itself when unknown.
function tName(table, name) {
  if (name === null || name === undefined || name === "") {
    return t("none");
  }
  const words = I18N[lang][table] || {};
  return Object.prototype.hasOwnProperty.call(words, name) ? words[name] : String(name);
}

// Why an incident has its priority, in the page's language. farod writes the reasons in
// English from a fixed set of templates (incident.rs, understand/mod.rs, desk/intake.rs); the
// quoted words are the sender's own and stay as they are. A reason no template matches is
// shown as written.
const REASONS_ES = {
  "asks for help": "pide ayuda",
  "a name, not a plea": "un nombre, no una petición",
  "a service, not a plea": "un servicio, no una petición",
  "help not needed": "no necesita ayuda",
  "thanks for help given": "agradece la ayuda recibida",
  "let, not left": "permiso, no abandono",
  "the phone, worth asking": "el teléfono: conviene preguntar",
  "worth asking": "conviene preguntar",
  emergency: "emergencia",
};

function flagWords(text) {
  return text
    .split(",")
    .map((f) => tName("flag_names", f.trim().replace(/ /g, "_")))
    .join(", ");
}

function reasonText(reason) {
  const r = String(reason);
  if (lang !== "es") {
    return r;
  }
  let m = r.match(/^kind (\w+): P(\d)$/);
  if (m) {
    return "tipo " + tName("kinds", m[1]) + ": P" + m[2];
  }
  m = r.match(/^vulnerable \(([^)]*)\): P1$/);
  if (m) {
    return "vulnerable (" + flagWords(m[1]) + "): P1";
  }
  m = r.match(/^(\d+) people: up to P(\d)$/);
  if (m) {
    return m[1] + " personas: hasta P" + m[2];
  }
  m = r.match(/^(\d+) people$/);
  if (m) {
    return m[1] + " personas";
  }
  if (r === "the guide left: abandoned") {
    return "el guía se fue: abandonados";
  }
  m = r.match(/^(said )?("[^"]*"): (.+)$/);
  if (m) {
    const said = m[1] ? "dijo " : "";
    const meaning = m[3];
    let es = REASONS_ES[meaning];
    if (es === undefined) {
      const flag = meaning.replace(/ /g, "_");
      const kinds = I18N.es.kinds || {};
      const flags = I18N.es.flag_names || {};
      if (Object.prototype.hasOwnProperty.call(flags, flag)) {
        es = flags[flag];
      } else if (Object.prototype.hasOwnProperty.call(kinds, meaning)) {
        es = kinds[meaning];
      } else {
        es = meaning;
      }
    }
    return said + m[2] + ": " + es;
  }
  return r;
}

// The page's fixed words: data-i18n (text), data-i18n-title, data-i18n-placeholder.
function translatePage() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const node of document.querySelectorAll("[data-i18n-title]")) {
    node.title = t(node.dataset.i18nTitle);
  }
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  const title = document.body.dataset.title;
  if (title) {
    document.title = "Faro · " + t(title);
  }
  const select = document.getElementById("lang");
  if (select) {
    select.value = lang;
    select.addEventListener("change", () => {
      try {
        window.localStorage.setItem(LANG_KEY, select.value);
      } catch (e) {
        // Private mode: this page only.
      }
      window.location.reload();
    });
  }
}

// ---- Times in the station's zone ----

let zone = "UTC";
let timeFormat = null;

function setZone(name) {
  try {
    timeFormat = new Intl.DateTimeFormat(lang, {
      timeZone: name,
      dateStyle: "short",
      timeStyle: "short",
    });
    zone = name;
  } catch (e) {
    // An unknown zone name: UTC, and say so in the header.
    zone = "UTC";
    timeFormat = new Intl.DateTimeFormat(lang, {
      timeZone: "UTC",
      dateStyle: "short",
      timeStyle: "short",
    });
  }
}

// The zone's short name now ("MST", "GMT-7"), next to its IANA name.
function zoneLabel() {
  let abbr = "";
  try {
    const parts = new Intl.DateTimeFormat(lang, { timeZone: zone, timeZoneName: "short" })
      .formatToParts(new Date());
    const part = parts.find((p) => p.type === "timeZoneName");
    abbr = part ? part.value : "";
  } catch (e) {
    abbr = "";
  }
  return abbr && abbr !== zone ? zone + " (" + abbr + ")" : zone;
}

// An API time (RFC 3339 text, or milliseconds) in the station's zone.
function fmtTime(value) {
  if (value === null || value === undefined || value === "") {
    return t("none");
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    return String(value);
  }
  if (timeFormat === null) {
    setZone(zone);
  }
  return timeFormat.format(date);
}

// A team's state for people: `ok` with an open incident is busy.
function teamState(team) {
  const busy = team.status === "ok" && Array.isArray(team.assigned) && team.assigned.length > 0;
  return busy ? "busy" : team.status;
}

// ---- Small helpers ----

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

function incidentLink(id) {
  return el("a", id, { href: "/incident?id=" + encodeURIComponent(id) });
}

// A GET's JSON; a 401 goes to the login page. A failure throws an Error with the API's one
// line and `status`.
async function getJson(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  if (res.status === 401) {
    window.location.assign("/login");
    throw new Error(t("no_session"));
  }
  if (!res.ok) {
    throw await failure(res);
  }
  return res.json();
}

async function failure(res) {
  let message = t("http_error", { status: res.status });
  try {
    const body = await res.json();
    if (body && typeof body.error === "string" && body.error) {
      message = body.error;
    }
  } catch (e) {
    // Not JSON: the status says it.
  }
  const err = new Error(message);
  err.status = res.status;
  return err;
}

let csrf = "";
let me = { name: "", role: "auditor", p1_realert_secs: 0 };

// A write: JSON body, the session's CSRF token. Answers the JSON or throws the API's one line.
async function postJson(path, body) {
  const res = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-Faro-CSRF": csrf, "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  if (res.status === 401) {
    window.location.assign("/login");
    throw new Error(t("no_session"));
  }
  if (!res.ok) {
    throw await failure(res);
  }
  return res.json();
}

function canWrite() {
  return me.role === "desk" || me.role === "coordinator";
}

// ---- Header, shared by the pages behind a session ----

async function startPage() {
  translatePage();
  const who = await getJson("/v1/me");
  me = who;
  csrf = who.csrf;
  document.getElementById("who").textContent = who.name + " (" + who.role + ")";
  document.body.dataset.role = who.role;
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/logout", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Faro-CSRF": csrf },
    });
    window.location.assign("/login");
  });
  try {
    const status = await getJson("/v1/status");
    setZone(status.timezone || "UTC");
  } catch (e) {
    setZone("UTC");
  }
  const tz = document.getElementById("tz");
  if (tz) {
    tz.textContent = t("zone", { zone: zoneLabel() });
  }
  notifyButton();
  document.addEventListener("click", unlockAudio, { once: true });
  return who;
}

function notifyButton() {
  const button = document.getElementById("notify");
  if (!button) {
    return;
  }
  // Browsers notify only from a secure context (localhost or HTTPS): elsewhere the banner
  // and the beep remain, and the button would do nothing.
  if (!("Notification" in window) || window.isSecureContext === false) {
    button.hidden = true;
    return;
  }
  const show = () => {
    const p = Notification.permission;
    button.textContent = t(p === "granted" ? "notify_on" : p === "denied" ? "notify_denied" : "notify");
    button.disabled = p !== "default";
  };
  show();
  button.addEventListener("click", () => {
    unlockAudio();
    try {
      const asked = Notification.requestPermission(show);
      if (asked && typeof asked.then === "function") {
        asked.then(show, show);
      }
    } catch (e) {
      show();
    }
  });
}

// ---- The P1 alert: a banner until acknowledged, a beep and a notification ----

let audio = null;

// Browsers start audio only after a gesture: the first click anywhere readies it.
function unlockAudio() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) {
      return;
    }
    if (audio === null) {
      audio = new Ctx();
    }
    if (audio.state === "suspended") {
      audio.resume().catch(() => {});
    }
  } catch (e) {
    audio = null;
  }
}

function beep() {
  try {
    unlockAudio();
    if (audio === null) {
      return;
    }
    const start = audio.currentTime + 0.05;
    for (let k = 0; k < 3; k++) {
      const at = start + k * 0.35;
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = k === 1 ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(at);
      osc.stop(at + 0.3);
    }
  } catch (e) {
    // Blocked before a gesture, or no audio: the banner still shows.
  }
}

function notify(list) {
  try {
    if (!("Notification" in window) || Notification.permission !== "granted") {
      return;
    }
    const body = list.map((i) => i.id + " · " + tName("kinds", i.kind)).join("\n");
    new Notification(t("notify_title"), { body: body, tag: "faro-p1", renotify: true });
  } catch (e) {
    // Some browsers only notify from a service worker: the banner and the beep remain.
  }
}

const alerted = new Map(); // incident id -> when it last sounded (ms)
let unacked = [];
let realertTimer = null;

function ring(list) {
  const now = Date.now();
  for (const i of list) {
    alerted.set(i.id, now);
  }
  beep();
  notify(list);
}

function realert() {
  const every = Number(me.p1_realert_secs) * 1000;
  if (!(every > 0) || !unacked.length) {
    return;
  }
  const now = Date.now();
  const due = unacked.filter((i) => now - (alerted.get(i.id) || 0) >= every);
  if (due.length) {
    ring(due);
  }
}

// Called with the open incidents whenever a page reads them.
function updateAlert(open) {
  const box = document.getElementById("alert");
  if (!box) {
    return;
  }
  unacked = open.filter((i) => Number(i.priority) === 1 && i.state === "new").sort(byUrgency);
  const ids = new Set(unacked.map((i) => i.id));
  for (const id of [...alerted.keys()]) {
    if (!ids.has(id)) {
      alerted.delete(id);
    }
  }
  if (!unacked.length) {
    box.hidden = true;
    box.removeAttribute("data-incidents");
    box.replaceChildren();
    return;
  }
  box.dataset.incidents = unacked.map((i) => i.id).join(" ");
  const list = el("ul");
  for (const inc of unacked) {
    const item = el("li", null, { "data-id": inc.id });
    item.append(incidentLink(inc.id));
    item.append(document.createTextNode(" · " + tName("kinds", inc.kind)));
    if (canWrite()) {
      // Not data-action: on the incident page that names the page's own buttons.
      const ack = el("button", t("ack"), { type: "button", class: "ack", "data-ack": inc.id });
      ack.addEventListener("click", () => acknowledge(inc.id, ack));
      item.append(document.createTextNode(" "));
      item.append(ack);
    }
    list.append(item);
  }
  box.replaceChildren(el("strong", tn("alert", unacked.length)), list);
  box.hidden = false;
  const fresh = unacked.filter((i) => !alerted.has(i.id));
  if (fresh.length) {
    ring(fresh);
  }
  if (realertTimer === null && Number(me.p1_realert_secs) > 0) {
    realertTimer = setInterval(realert, 1000);
  }
}

// ---- The live feed: any audit event, debounced ----

function subscribe(onChange) {
  // At once when idle; while a re-read runs, one more after it for whatever came meanwhile
  // (a burst of events costs two re-reads, and the first event shows without waiting).
  let running = false;
  let again = false;
  const soon = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await onChange();
      } while (again);
    } finally {
      running = false;
    }
  };
  const open = () => {
    const live = document.getElementById("live");
    const source = new EventSource("/v1/stream");
    source.addEventListener("open", () => {
      live.textContent = t("live_on");
      live.classList.add("on");
      soon();
    });
    source.addEventListener("audit", soon);
    source.addEventListener("lagged", soon);
    source.addEventListener("error", () => {
      live.textContent = t("live_off");
      live.classList.remove("on");
      // EventSource retries by itself (with Last-Event-ID) unless the answer was not a
      // stream, such as a 401 once the session has ended: then ask who we are (a 401 goes
      // to /login) and open a new one a little later.
      if (source.readyState === EventSource.CLOSED) {
        getJson("/v1/me")
          .then(() => setTimeout(open, RETRY_MS))
          .catch(() => setTimeout(open, RETRY_MS));
      }
    });
  };
  open();
}

// ---- Login page ----

function loginPage() {
  translatePage();
  document.title = t("title_login");
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
      say(t("too_many"));
    } else {
      say(t("wrong_login"));
    }
  });
}

// ---- Queue page ----

function byUrgency(a, b) {
  if (a.priority !== b.priority) {
    return a.priority - b.priority;
  }
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;
}

function peopleText(people) {
  if (people === null || people === undefined) {
    return t("people_unknown");
  }
  return tn("people", people);
}

function card(inc) {
  const p = Math.min(Math.max(Number(inc.priority) || 4, 1), 4);
  const li = el("li", null, { class: "incident p" + p, "data-id": inc.id });
  const head = el("div");
  head.append(el("span", "P" + p, { class: "badge", title: t("priority", { p: p }) }));
  const link = incidentLink(inc.id);
  link.classList.add("id");
  head.append(link);
  head.append(document.createTextNode(" · " + tName("kinds", inc.kind)));
  li.append(head);

  const meta = [peopleText(inc.people), tName("states", inc.state)];
  if (inc.team) {
    meta.push(t("team_of", { team: inc.team }));
  }
  if (inc.reporter_name || inc.reporter) {
    meta.push(inc.reporter_name || inc.reporter);
  }
  meta.push(t("heard_at", { time: fmtTime(inc.last_heard_at) }));
  li.append(el("div", meta.join(" · "), { class: "meta" }));

  if (Array.isArray(inc.flags) && inc.flags.length) {
    const flags = inc.flags.map((f) => tName("flag_names", f)).join(", ");
    li.append(el("div", flags, { class: "meta", title: t("flags") }));
  }
  if (Array.isArray(inc.priority_why) && inc.priority_why.length) {
    const why = el("ul", null, { class: "why", title: t("why") });
    for (const reason of inc.priority_why) {
      why.append(el("li", reasonText(reason)));
    }
    li.append(why);
  }
  if (inc.state === "new" && canWrite()) {
    const ack = el("button", t("ack"), { type: "button", "data-action": "ack" });
    ack.addEventListener("click", () => acknowledge(inc.id, ack));
    li.append(ack);
  }
  return li;
}

// Acknowledges `id` (the queue's and the alert's button), then reads the page again.
async function acknowledge(id, button) {
  button.disabled = true;
  try {
    await postJson("/v1/incidents/" + encodeURIComponent(id) + "/ack", {});
    say("");
  } catch (e) {
    say(t("ack_failed", { id: id, error: e.message }));
  } finally {
    button.disabled = false;
  }
  if (typeof reload === "function") {
    reload();
  }
}

// The current page's re-read (set by each page).
let reload = null;

// Every open incident, page by page (the API gives at most 1,000 at a time).
async function openIncidents() {
  const all = [];
  for (let offset = 0; offset < 100000; offset += PAGE) {
    const page = await getJson("/v1/incidents?state=open&limit=" + PAGE + "&offset=" + offset);
    all.push(...page);
    if (page.length < PAGE) {
      break;
    }
  }
  return all;
}

async function refreshQueue() {
  try {
    const open = await openIncidents();
    open.sort(byUrgency);
    const queue = document.getElementById("queue");
    queue.replaceChildren(...open.map(card));
    document.getElementById("empty").hidden = open.length > 0;
    updateAlert(open);
  } catch (e) {
    say(t("queue_failed", { error: e.message }));
  }
}

// Only the alert, for the pages that do not list the queue.
async function refreshAlert() {
  try {
    updateAlert(await openIncidents());
  } catch (e) {
    // The page's own read says what failed.
  }
}

async function queuePage() {
  await startPage();
  reload = refreshQueue;
  await refreshQueue();
  subscribe(refreshQueue);
}

// incident.js and teams.js add theirs.
const PAGES = {
  queue: queuePage,
};

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "login") {
    loginPage();
  } else if (PAGES[page]) {
    PAGES[page]().catch((e) => say(e.message));
  }
});
