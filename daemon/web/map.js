// Faro desk map: Leaflet with no tile layer (nothing leaves the machine), the vendored
// Natural Earth outlines, and what /v1/map says. Text from the air or from operators goes
// into the page only as textContent. Uses desk.js's el, getJson and say.
"use strict";

(function () {
  const PRIORITY_COLOURS = { 1: "#c62828", 2: "#ef6c00", 3: "#f9a825", 4: "#757575" };
  const STATES = { new: "nuevo", acknowledged: "reconocido", assigned: "asignado", closed: "cerrado" };
  const TEAM_STATES = { ok: "disponible", stale: "sin reporte reciente", lost: "perdido", unknown: "sin datos" };
  const SEARCH_STATES = { open: "abierta", searching: "en búsqueda" };
  // Where the map opens before anything has a position: the region Faro serves.
  const REGION = [[6, -118], [34, -76]];

  const state = {
    map: null,
    layers: null,
    incidents: {},
    teams: {},
    fitted: false,
    pending: null,
  };

  function priority(p) {
    return Math.min(Math.max(Number(p) || 4, 1), 4);
  }

  // A popup's content: DOM nodes, never HTML built from data.
  function popup(title, lines, link) {
    const box = el("div", null, { class: "map-popup" });
    box.append(el("strong", title));
    for (const line of lines) {
      if (line) {
        box.append(el("div", line, { class: "meta" }));
      }
    }
    if (link) {
      box.append(el("a", link.text, { href: link.href, title: link.title }));
    }
    return box;
  }

  function drawIncident(inc, bounds) {
    const p = priority(inc.priority);
    const marker = L.circleMarker([inc.lat, inc.lon], {
      radius: p === 1 ? 10 : 8,
      color: "#212121",
      weight: 1,
      fillColor: PRIORITY_COLOURS[p],
      fillOpacity: 0.9,
      className: "incident p" + p,
    });
    const lines = [
      "P" + p + " · " + inc.kind,
      inc.people !== null && inc.people !== undefined ? inc.people + " personas" : "",
      STATES[inc.state] || inc.state,
      inc.team ? "equipo " + inc.team : "",
      "oído " + inc.last_heard_at,
    ];
    marker.bindPopup(
      popup(inc.id, lines, {
        href: "/incident?id=" + encodeURIComponent(inc.id),
        text: "Abrir incidente",
        title: "Open incident",
      }),
    );
    marker.bindTooltip(el("span", inc.id + " · P" + p));
    marker.addTo(state.layers);
    state.incidents[inc.id] = marker;
    bounds.push([inc.lat, inc.lon]);
  }

  function drawTeam(team, bounds) {
    const faded = team.status === "stale" || team.status === "lost" || team.status === "unknown";
    const opacity = faded ? 0.35 : 1;
    const track = (team.track || []).map((p) => [p.lat, p.lon]);
    if (track.length > 1) {
      L.polyline(track, {
        color: "#1565c0",
        weight: 2,
        opacity: faded ? 0.3 : 0.8,
        dashArray: faded ? "4 6" : null,
        className: "track",
      }).addTo(state.layers);
    }
    if (team.lat === null || team.lat === undefined) {
      return;
    }
    const marker = L.circleMarker([team.lat, team.lon], {
      radius: 7,
      color: "#0d47a1",
      weight: 2,
      opacity,
      fillColor: "#1565c0",
      fillOpacity: faded ? 0.25 : 0.9,
      className: "team" + (faded ? " faded" : ""),
    });
    const lines = [
      TEAM_STATES[team.status] || team.status,
      team.last_position_at ? "posición " + team.last_position_at : "",
      team.assigned && team.assigned.length ? "asignado: " + team.assigned.join(", ") : "",
    ];
    marker.bindPopup(popup("Equipo " + team.name, lines));
    marker.bindTooltip(el("span", team.name));
    marker.addTo(state.layers);
    state.teams[team.name] = marker;
    bounds.push([team.lat, team.lon]);
  }

  function drawPlace(name, lat, lon, colour, className, lines) {
    L.circleMarker([lat, lon], {
      radius: 5,
      color: colour,
      weight: 2,
      fillColor: colour,
      fillOpacity: 0.6,
      className,
    })
      .bindPopup(popup(name, lines))
      .bindTooltip(el("span", name))
      .addTo(state.layers);
  }

  function drawSearch(area) {
    L.circle([area.lat, area.lon], {
      radius: Number(area.radius_km) * 1000,
      color: "#00838f",
      weight: 2,
      dashArray: "6 4",
      fillOpacity: 0.08,
      className: "search",
    })
      .bindPopup(
        popup(area.id, [
          area.people + " personas buscadas",
          SEARCH_STATES[area.state] || area.state,
          area.team ? "equipo " + area.team : "",
          "radio " + area.radius_km + " km",
        ]),
      )
      .addTo(state.layers);
  }

  function draw(data) {
    state.layers.clearLayers();
    state.incidents = {};
    state.teams = {};
    window.faroMap.incidents = state.incidents;
    window.faroMap.teams = state.teams;
    const bounds = [];
    for (const area of data.search_areas || []) {
      drawSearch(area);
    }
    for (const m of data.municipalities || []) {
      drawPlace(m.name, m.lat, m.lon, "#2e7d32", "municipality", [m.state, "ambulancia"]);
    }
    for (const t of data.towers || []) {
      drawPlace(t.name, t.lat, t.lon, "#6a1b9a", "tower", ["torre con botón de pánico"]);
    }
    const st = data.station || {};
    if (st.lat !== null && st.lat !== undefined) {
      L.circleMarker([st.lat, st.lon], {
        radius: 7,
        color: "#263238",
        weight: 3,
        fillColor: "#ffffff",
        fillOpacity: 1,
        className: "station",
      })
        .bindPopup(popup(st.name || st.code, ["estación " + st.code]))
        .bindTooltip(el("span", st.name || st.code))
        .addTo(state.layers);
      bounds.push([st.lat, st.lon]);
    }
    for (const team of data.teams || []) {
      drawTeam(team, bounds);
    }
    // Incidents last: on top of everything else.
    const incidents = (data.incidents || []).slice().sort((a, b) => b.priority - a.priority);
    for (const inc of incidents) {
      drawIncident(inc, bounds);
    }
    if (!state.fitted && bounds.length) {
      state.map.fitBounds(bounds, { padding: [40, 40], maxZoom: 12 });
      state.fitted = true;
    }
  }

  async function refresh() {
    try {
      draw(await getJson("/v1/map"));
      say("");
    } catch (e) {
      say("No se pudo leer el mapa: " + e.message);
    }
  }

  async function outlines() {
    const geo = await getJson("/vendor/outlines.json");
    L.geoJSON(geo, {
      interactive: false,
      style: { color: "#607d8b", weight: 1, fillColor: "#f1eee4", fillOpacity: 1 },
    }).addTo(state.map);
  }

  async function mapPage() {
    await startPage();
    // No tile layer: the outlines are the background.
    state.map = L.map("map", { zoomSnap: 0.5, attributionControl: true });
    state.map.attributionControl.setPrefix(false);
    state.map.attributionControl.addAttribution("Natural Earth · Leaflet");
    state.map.fitBounds(REGION);
    window.faroMap = { map: state.map, incidents: state.incidents, teams: state.teams };
    try {
      await outlines();
    } catch (e) {
      say("Sin contornos: " + e.message);
    }
    state.layers = L.layerGroup().addTo(state.map);
    const both = () => {
      refreshAlert();
      return refresh();
    };
    reload = both;
    await both();
    subscribe(both);
  }

  PAGES.map = mapPage;
})();
