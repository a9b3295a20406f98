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
  // The API reports a battery only when a team's node told it.
  const battery = team.battery === null || team.battery === undefined ? t("none") : team.battery + " %";
  tr.append(el("td", battery));
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
