// Faro desk map: Leaflet with no tile layer (nothing leaves the machine), the vendored
// Natural Earth outlines, what /v1/map says, and the gazetteer's towns around what is in view
// (/v1/places/within) for context. Text from the air or from operators goes into the page
// only as textContent. Uses desk.js's el, getJson, say, t, tn, tName, fmtTime and teamState.
"use strict";

(function () {
  const PRIORITY_COLOURS = { 1: "#c62828", 2: "#ef6c00", 3: "#f9a825", 4: "#757575" };
  // Where the map opens before anything has a position: the region Faro serves.
  const REGION = [[6, -118], [34, -76]];
  // Fitting to the data stops here: the surroundings (towns, the border), not a blank street.
  const FIT_MAX_ZOOM = 10;
  // The gazetteer's places: drawn from this zoom on, named on the map from the next, asked for
  // this long after the map stops moving, this many at most (the most populous).
  const PLACES_FROM_ZOOM = 7;
  const PLACE_NAMES_FROM_ZOOM = 9;
  const PLACES_DEBOUNCE_MS = 250;
  const PLACES_LIMIT = 200;
  // Of those, the most populous are named on the map; the rest on hover.
  const PLACE_NAMES = 60;

  const state = {
    map: null,
    layers: null,
    places: null,
    incidents: {},
    teams: {},
    fitted: false,
    placesTimer: null,
    placesAsked: 0,
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
    const head = [t("map_priority", { p: p }), tName("kinds", inc.kind)];
    if (inc.people !== null && inc.people !== undefined) {
      head.push(tn("people", inc.people));
    }
    const lines = [
      head.join(" · "),
      tName("states", inc.state),
      inc.team ? t("team_of", { team: inc.team }) : "",
      t("heard_at", { time: fmtTime(inc.last_heard_at) }),
    ];
    marker.bindPopup(
      popup(inc.id, lines, {
        href: "/incident?id=" + encodeURIComponent(inc.id),
        text: t("map_open_incident"),
        title: t("map_open_incident"),
      }),
    );
    marker.bindTooltip(el("span", inc.id + " · " + t("map_priority", { p: p })));
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
      tName("team_states", teamState(team)),
      team.last_position_at ? t("map_position_at", { time: fmtTime(team.last_position_at) }) : "",
      team.assigned && team.assigned.length
        ? t("map_assigned", { ids: team.assigned.join(", ") })
        : "",
    ];
    marker.bindPopup(popup(t("map_team", { name: team.name }), lines));
    marker.bindTooltip(el("span", team.name));
    marker.addTo(state.layers);
    state.teams[team.name] = marker;
    bounds.push([team.lat, team.lon]);
  }

  function drawPin(name, lat, lon, colour, className, lines) {
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
          tn("map_searched", area.people),
          tName("search_states", area.state),
          area.team ? t("team_of", { team: area.team }) : "",
          t("map_radius", { km: area.radius_km }),
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
      drawPin(m.name, m.lat, m.lon, "#2e7d32", "municipality", [m.state, t("map_ambulance")]);
    }
    for (const tower of data.towers || []) {
      drawPin(tower.name, tower.lat, tower.lon, "#6a1b9a", "tower", [t("map_tower")]);
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
        .bindPopup(popup(st.name || st.code, [t("map_station", { code: st.code })]))
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
      state.map.fitBounds(bounds, { padding: [40, 40], maxZoom: FIT_MAX_ZOOM });
      state.fitted = true;
    }
  }

  async function refresh() {
    try {
      draw(await getJson("/v1/map"));
      say("");
    } catch (e) {
      say(t("map_failed", { error: e.message }));
    }
  }

  // ---- The gazetteer's places: context around what is in view, never a target ----

  function placeQuery(bounds) {
    const clamp = (v, max) => Math.min(Math.max(v, -max), max).toFixed(4);
    return (
      "/v1/places/within?west=" + clamp(bounds.getWest(), 180) +
      "&south=" + clamp(bounds.getSouth(), 90) +
      "&east=" + clamp(bounds.getEast(), 180) +
      "&north=" + clamp(bounds.getNorth(), 90) +
      "&limit=" + PLACES_LIMIT
    );
  }

  function placeText(place) {
    const label = place.label || place.name;
    if (!(place.population > 0)) {
      return label;
    }
    const n = Number(place.population).toLocaleString(lang);
    return label + " · " + t("map_population", { n: n });
  }

  function drawPlaces(places, named) {
    state.places.clearLayers();
    places.forEach((place, i) => {
      const label = named && i < PLACE_NAMES;
      const dot = L.circleMarker([place.lat, place.lon], {
        pane: "places",
        radius: 3,
        color: "#616161",
        weight: 1,
        fillColor: "#9e9e9e",
        fillOpacity: 0.9,
        // Named dots need no hover; the others show their name on it, and nothing more.
        interactive: !label,
        className: "place",
      });
      if (label) {
        dot.bindTooltip(el("span", place.name), {
          permanent: true,
          direction: "right",
          offset: [4, 0],
          pane: "placeNames",
          className: "place-name",
        });
      } else {
        dot.bindTooltip(el("span", placeText(place)), { direction: "top", className: "place-hover" });
      }
      dot.addTo(state.places);
    });
  }

  async function loadPlaces() {
    const zoom = state.map.getZoom();
    const asked = ++state.placesAsked;
    if (zoom < PLACES_FROM_ZOOM) {
      state.places.clearLayers();
      return;
    }
    try {
      const places = await getJson(placeQuery(state.map.getBounds()));
      // A later move asked again meanwhile: its answer draws.
      if (asked === state.placesAsked) {
        drawPlaces(places, state.map.getZoom() >= PLACE_NAMES_FROM_ZOOM);
      }
    } catch (e) {
      if (asked === state.placesAsked) {
        say(t("places_failed", { error: e.message }));
      }
    }
  }

  function placesSoon() {
    clearTimeout(state.placesTimer);
    if (state.map.getZoom() < PLACES_FROM_ZOOM) {
      // Cleared at once, and any answer still on its way is dropped.
      state.placesAsked++;
      state.places.clearLayers();
      return;
    }
    state.placesTimer = setTimeout(loadPlaces, PLACES_DEBOUNCE_MS);
  }

  async function outlines() {
    const geo = await getJson("/vendor/outlines.json");
    L.geoJSON(geo, {
      pane: "outlines",
      interactive: false,
      style: { color: "#607d8b", weight: 1, fillColor: "#f1eee4", fillOpacity: 1 },
    }).addTo(state.map);
  }

  async function mapPage() {
    await startPage();
    // No tile layer: the outlines are the background.
    state.map = L.map("map", { zoomSnap: 0.5, attributionControl: true });
    state.map.attributionControl.setPrefix(false);
    state.map.attributionControl.addAttribution("Natural Earth · GeoNames · Leaflet");
    state.map.fitBounds(REGION);
    // Bottom to top (map.css): the land, the gazetteer's places, their names, then (Leaflet's
    // overlay pane) everything /v1/map says, so a town never hides an incident.
    state.map.createPane("outlines");
    state.map.createPane("places");
    state.map.createPane("placeNames");
    window.faroMap = { map: state.map, incidents: state.incidents, teams: state.teams };
    try {
      await outlines();
    } catch (e) {
      say(t("outlines_failed", { error: e.message }));
    }
    state.places = L.layerGroup().addTo(state.map);
    state.map.on("moveend", placesSoon);
    state.layers = L.layerGroup().addTo(state.map);
    const both = () => {
      refreshAlert();
      return refresh();
    };
    reload = both;
    await both();
    placesSoon();
    subscribe(both);
  }

  PAGES.map = mapPage;
})();
