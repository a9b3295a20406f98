// Converts Natural Earth country outlines (world-atlas, TopoJSON) into the small GeoJSON the
// desk map draws with no network: only the region Faro serves (Mexico, Central America,
// Panama/Darién and the US border strip), clipped to a rectangle, simplified (Douglas–Peucker,
// about 200 m) and rounded to 3 decimals (about 100 m), so the file stays small and the same
// input always gives the same bytes.
//
// Usage: node outlines.mjs <node_modules> <out.json>  (run by vendor.sh, not by hand)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const [modules, out] = process.argv.slice(2);
const require = createRequire(join(modules, "noop.js"));
const topojson = require("topojson-client");

// The region: west, south, east, north (degrees).
const BOX = [-118, 6, -76, 34];
const DECIMALS = 3;
// Douglas–Peucker tolerance, degrees (about 200 m): a few pixels at the zoom of one sector,
// nothing at the region's; the outlines are for orientation, positions are drawn exactly.
const TOLERANCE = 0.002;

const topo = JSON.parse(readFileSync(join(modules, "world-atlas", "countries-10m.json"), "utf8"));

// Sutherland–Hodgman against one edge of the box at a time.
function clipRing(ring) {
  const edges = [
    (p) => p[0] >= BOX[0], (p) => p[1] >= BOX[1], (p) => p[0] <= BOX[2], (p) => p[1] <= BOX[3],
  ];
  const cross = [
    (a, b) => at(a, b, 0, BOX[0]), (a, b) => at(a, b, 1, BOX[1]),
    (a, b) => at(a, b, 0, BOX[2]), (a, b) => at(a, b, 1, BOX[3]),
  ];
  let pts = ring.slice(0, -1);
  for (let e = 0; e < 4 && pts.length; e++) {
    const inside = edges[e];
    const next = [];
    for (let i = 0; i < pts.length; i++) {
      const cur = pts[i];
      const prev = pts[(i + pts.length - 1) % pts.length];
      if (inside(cur)) {
        if (!inside(prev)) next.push(cross[e](prev, cur));
        next.push(cur);
      } else if (inside(prev)) {
        next.push(cross[e](prev, cur));
      }
    }
    pts = next;
  }
  return pts;
}

// Where segment a-b meets the line coordinate `axis` = v.
function at(a, b, axis, v) {
  const t = (v - a[axis]) / (b[axis] - a[axis]);
  const p = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
  p[axis] = v;
  return p;
}

// Distance from p to the segment a-b, degrees (flat: the tolerance is tiny).
function offset(p, a, b) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len = dx * dx + dy * dy;
  let t = len === 0 ? 0 : ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len;
  t = Math.max(0, Math.min(1, t));
  const x = a[0] + t * dx - p[0];
  const y = a[1] + t * dy - p[1];
  return Math.sqrt(x * x + y * y);
}

// Douglas–Peucker on an open path, without recursion.
function simplifyPath(pts) {
  if (pts.length < 3) return pts;
  const keep = new Uint8Array(pts.length);
  keep[0] = keep[pts.length - 1] = 1;
  const stack = [[0, pts.length - 1]];
  while (stack.length) {
    const [i, j] = stack.pop();
    let far = -1;
    let best = TOLERANCE;
    for (let k = i + 1; k < j; k++) {
      const d = offset(pts[k], pts[i], pts[j]);
      if (d > best) {
        best = d;
        far = k;
      }
    }
    if (far >= 0) {
      keep[far] = 1;
      stack.push([i, far], [far, j]);
    }
  }
  return pts.filter((_, k) => keep[k]);
}

// Simplifies the topology's arcs, not each country's rings: a border two countries share is one
// arc, so both sides stay on the same line. Arcs come quantized and delta-encoded.
function simplifiedTopology(t) {
  const [sx, sy] = t.transform.scale;
  const [tx, ty] = t.transform.translate;
  const arcs = t.arcs.map((arc) => {
    let x = 0;
    let y = 0;
    const pts = arc.map(([dx, dy]) => {
      x += dx;
      y += dy;
      return [x * sx + tx, y * sy + ty];
    });
    return simplifyPath(pts);
  });
  return { ...t, transform: undefined, arcs };
}

const countries = topojson.feature(simplifiedTopology(topo), topo.objects.countries).features;

const scale = 10 ** DECIMALS;
const round = (x) => Math.round(x * scale) / scale;

// Clips, rounds and drops repeated points; null when nothing of the ring is left.
function ring(r) {
  const out = [];
  for (const p of clipRing(r)) {
    const q = [round(p[0]), round(p[1])];
    const last = out[out.length - 1];
    if (!last || last[0] !== q[0] || last[1] !== q[1]) out.push(q);
  }
  while (out.length > 1 && out[0][0] === out[out.length - 1][0] && out[0][1] === out[out.length - 1][1]) {
    out.pop();
  }
  if (out.length < 3) return null;
  out.push(out[0]);
  return out;
}

function polygons(geom) {
  if (!geom) return [];
  if (geom.type === "Polygon") return [geom.coordinates];
  if (geom.type === "MultiPolygon") return geom.coordinates;
  return [];
}

const features = [];
for (const f of countries) {
  const polys = [];
  for (const poly of polygons(f.geometry)) {
    const outer = ring(poly[0]);
    if (!outer) continue;
    const holes = poly.slice(1).map(ring).filter(Boolean);
    polys.push([outer, ...holes]);
  }
  if (!polys.length) continue;
  features.push({
    type: "Feature",
    properties: { name: f.properties.name },
    geometry: polys.length === 1
      ? { type: "Polygon", coordinates: polys[0] }
      : { type: "MultiPolygon", coordinates: polys },
  });
}
features.sort((a, b) => (a.properties.name < b.properties.name ? -1 : a.properties.name > b.properties.name ? 1 : 0));

const doc = {
  type: "FeatureCollection",
  // Where it comes from, for whoever opens the file.
  source: "Natural Earth 1:10m admin-0 countries (public domain) via world-atlas 2.0.2, clipped, simplified and rounded by outlines.mjs",
  bbox: BOX,
  features,
};
writeFileSync(out, JSON.stringify(doc) + "\n");
