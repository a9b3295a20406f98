// Faro desk: the patrol teams (`/teams`). Needs desk.js (loaded first).
// Text from the air is hostile: it goes into the page only as textContent.
"use strict";

function teamRow(team) {
  const state = teamState(team);
  const tr = el("tr", null, { "data-team": team.name, "data-status": state });
  tr.append(el("td", team.name, { class: "name" }));
  tr.append(el("td", tName("team_states", state), { class: "status " + state }));
  const known = team.lat !== null && team.lat !== undefined && team.lon !== null && team.lon !== undefined;
  tr.append(el("td", known ? Number(team.lat).toFixed(5) + ", " + Number(team.lon).toFixed(5) : t("none")));
  tr.append(el("td", fmtTime(team.last_position_at)));
  tr.append(batteryCell(team.battery));
  const open = el("td");
  const assigned = Array.isArray(team.assigned) ? team.assigned : [];
  if (!assigned.length) {
    open.textContent = t("none");
  }
  assigned.forEach((id, k) => {
    if (k) {
      open.append(document.createTextNode(", "));
    }
    open.append(incidentLink(id));
  });
  tr.append(open);
  const note = el("td", null, { class: "note" });
  if (team.last_note) {
    note.append(el("span", fmtTime(team.last_note.at) + " · ", { class: "meta" }));
    note.append(el("span", team.last_note.text));
  } else {
    note.textContent = t("none");
  }
  tr.append(note);
  return tr;
}

// The API reports a battery only when a team's node told it: {level, powered, voltage, at,
// node}; level 101 (powered) is a node on external power, shown as a plug.
function batteryCell(b) {
  if (!b) {
    return el("td", t("none"));
  }
  let text = t("none");
  if (b.powered) {
    text = "\u26A1";
  } else if (b.level !== null && b.level !== undefined) {
    text = b.level + " %";
  } else if (b.voltage !== null && b.voltage !== undefined) {
    text = Number(b.voltage).toFixed(2) + " V";
  }
  const low = !b.powered && b.level !== null && b.level !== undefined && b.level <= 20;
  return el("td", text, {
    class: low ? "battery low" : "battery",
    title: fmtTime(b.at) + (b.node ? " · " + b.node : ""),
  });
}

async function refreshTeams() {
  refreshAlert();
  try {
    const teams = await getJson("/v1/teams");
    document.querySelector("#teams tbody").replaceChildren(...teams.map(teamRow));
    document.getElementById("no-teams").hidden = teams.length > 0;
    say("");
  } catch (e) {
    say(t("teams_failed", { error: e.message }));
  }
}

async function teamsPage() {
  await startPage();
  reload = refreshTeams;
  await refreshTeams();
  subscribe(refreshTeams);
}

PAGES.teams = teamsPage;
