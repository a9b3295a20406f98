//! The monthly report for the station head: one self-contained HTML page (inline CSS with a
//! print style, an inline SVG chart, no script and no request to anywhere), Spanish first with
//! the English in small type. It shows a month's [`Figures`] broken down by day. Everything
//! that comes from data passes through [`escape`].

use std::fmt::Write as _;

use super::stats::Figures;

/// `&`, `<`, `>`, `"` and `'` as HTML entities: safe in text and in quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

/// "noviembre de 2026" for `2026-11-..`.
fn month_name(date: &str) -> String {
    let m: usize = date.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(0);
    match MONTHS.get(m.wrapping_sub(1)) {
        Some(name) => format!("{name} de {}", date.get(0..4).unwrap_or("")),
        None => date.to_string(),
    }
}

const STYLE: &str = r#"
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em; color: #111; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #999; }
small, .en { color: #555; font-size: 0.75em; font-weight: normal; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; }
th { background: #eee; }
td.l, th.l { text-align: left; }
.sub { color: #444; }
.legend span { display: inline-block; margin-right: 1.2em; }
.sw { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle; margin-right: 0.3em; }
svg { max-width: 100%; height: auto; }
@media print {
  body { margin: 1cm; font-size: 10pt; }
  h2 { page-break-after: avoid; }
  table, svg { page-break-inside: avoid; }
  th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .sw, rect { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// The series of the chart: Spanish label, English, colour.
const SERIES: [(&str, &str, &str); 3] = [
    ("Personas asistidas", "people assisted", "#1f6fb2"),
    ("Personas orientadas", "people oriented", "#e39b1b"),
    ("Personas rescatadas", "people rescued", "#2e9e44"),
];

/// The page: `station` names the station (code or name), `f` is the month's figures with
/// their days in `periods`, `generated` when the page was made (shown as given).
pub fn monthly(station: &str, f: &Figures, generated: &str) -> String {
    let station = escape(station);
    let month = escape(&month_name(&f.from));
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"es\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Informe mensual {station} \u{2014} {month}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Informe mensual \u{2014} {station}</h1>\n\
         <p class=\"sub\">{month} ({} a {}) <small>Monthly report</small></p>\n",
        escape(&f.from),
        escape(&f.to)
    );

    // The month's figures.
    o.push_str("<h2>Cifras del mes <small>Figures of the month</small></h2>\n<table>\n");
    let row = |o: &mut String, es: &str, en: &str, v: String| {
        let _ = writeln!(
            o,
            "<tr><th class=\"l\">{} <small>{}</small></th><td>{}</td></tr>",
            escape(es),
            escape(en),
            escape(&v)
        );
    };
    let n = |v: i64| v.to_string();
    let secs = |v: Option<i64>| v.map_or_else(|| "\u{2014}".to_string(), duration);
    row(
        &mut o,
        "Personas asistidas",
        "people assisted",
        n(f.assisted),
    );
    row(
        &mut o,
        "Personas orientadas",
        "people oriented",
        n(f.oriented),
    );
    row(
        &mut o,
        "Personas rescatadas",
        "people rescued",
        n(f.rescued),
    );
    row(
        &mut o,
        "Traslados a hospital",
        "hospital transfers (people)",
        n(f.hospital_transfers),
    );
    row(
        &mut o,
        "Traslados a albergue",
        "shelter transfers (people)",
        n(f.shelter_transfers),
    );
    row(&mut o, "Menores", "minors", n(f.minors));
    row(
        &mut o,
        "Menores no acompañados",
        "unaccompanied minors",
        n(f.unaccompanied_minors),
    );
    row(&mut o, "Mujeres", "women", n(f.women));
    row(&mut o, "Embarazadas", "pregnant", n(f.pregnant));
    row(
        &mut o,
        "Personas en quejas canalizadas",
        "people in complaints",
        n(f.complaints),
    );
    let l = &f.location_requests;
    row(
        &mut o,
        "Solicitudes de localización",
        "location requests",
        n(l.requests),
    );
    row(
        &mut o,
        "Personas buscadas",
        "people sought",
        n(l.people_sought),
    );
    row(&mut o, "Personas localizadas", "people found", n(l.found));
    row(
        &mut o,
        "Mediana hasta el acuse",
        "median time to acknowledgement",
        secs(f.median_ack_secs),
    );
    row(
        &mut o,
        "Mediana hasta la llegada",
        "median time to on scene",
        secs(f.median_reach_secs),
    );
    o.push_str("</table>\n");

    // Breakdowns.
    o.push_str("<h2>Desglose <small>Breakdown</small></h2>\n");
    counts(
        &mut o,
        "Asistencia por tipo",
        "aid by kind (people)",
        &f.assisted_by_kind.0,
    );
    counts(
        &mut o,
        "Quejas por categoría",
        "complaints by category (people)",
        &f.complaints_by_category.0,
    );
    let by_p: Vec<(String, i64)> = f
        .incidents
        .opened_by_priority
        .0
        .iter()
        .map(|(k, v)| (format!("P{k}"), *v))
        .collect();
    counts(
        &mut o,
        "Incidentes abiertos por prioridad",
        "incidents opened by priority",
        &by_p,
    );
    counts(
        &mut o,
        "Incidentes cerrados por resultado",
        "incidents closed by outcome",
        &f.incidents.closed_by_outcome.0,
    );

    // By day.
    let days: &[Figures] = f.periods.as_deref().unwrap_or(&[]);
    o.push_str("<h2>Por día <small>By day</small></h2>\n");
    o.push_str(&chart(days));
    o.push_str(
        "<table>\n<tr><th class=\"l\">Día <small>day</small></th>\
         <th>Asistidas <small>assisted</small></th><th>Orientadas <small>oriented</small></th>\
         <th>Rescatadas <small>rescued</small></th><th>Hospital</th><th>Albergue <small>shelter</small></th>\
         <th>Quejas <small>complaints</small></th><th>Incidentes <small>incidents</small></th></tr>\n",
    );
    for d in days {
        let opened: i64 = d.incidents.opened_by_priority.0.iter().map(|c| c.1).sum();
        let _ = writeln!(
            o,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&d.from),
            d.assisted,
            d.oriented,
            d.rescued,
            d.hospital_transfers,
            d.shelter_transfers,
            d.complaints,
            opened
        );
    }
    let _ = write!(
        o,
        "</table>\n<p class=\"sub\"><small>Cifras calculadas de los registros de la estación; \
         sin datos personales. Figures computed from the station's records; no personal data. \
         Generado {} <span class=\"en\">generated</span>.</small></p>\n</body>\n</html>\n",
        escape(generated)
    );
    o
}

/// Seconds for people: `45 s`, `12 min`, `1 h 05 min`.
fn duration(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {:02} s", s / 60, s % 60),
        s => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// The Spanish word for a stored one of the vocabulary (kinds of aid, complaint categories,
/// outcomes); None for the rest.
fn spanish(word: &str) -> Option<&'static str> {
    Some(match word {
        "first_aid" => "Primeros auxilios",
        "hospital_transfer" => "Traslado a hospital",
        "shelter_transfer" => "Traslado a albergue",
        "water" => "Agua",
        "food" => "Alimentos",
        "phone_call" => "Llamada telefónica",
        "orientation" => "Orientación",
        "legal_advice" => "Asesoría legal",
        "robbery" => "Robo",
        "assault" => "Agresión",
        "extortion" => "Extorsión",
        "kidnapping" => "Secuestro",
        "abuse_by_official" => "Abuso de autoridad",
        "other" => "Otro",
        "rescued" => "Rescate",
        "transferred_hospital" => "Traslado a hospital",
        "transferred_shelter" => "Traslado a albergue",
        "false_alarm" => "Falsa alarma",
        "not_found" => "No encontrado",
        "cancelled" => "Cancelado",
        _ => return None,
    })
}

/// A small table of named counts.
fn counts(o: &mut String, es: &str, en: &str, items: &[(String, i64)]) {
    let _ = write!(
        o,
        "<table>\n<tr><th class=\"l\" colspan=\"2\">{} <small>{}</small></th></tr>\n",
        escape(es),
        escape(en)
    );
    for (k, v) in items {
        let name = match spanish(k) {
            Some(w) => format!("{} <small>{}</small>", escape(w), escape(k)),
            None => escape(k),
        };
        let _ = writeln!(o, "<tr><td class=\"l\">{name}</td><td>{v}</td></tr>");
    }
    o.push_str("</table>\n");
}

/// Grouped bars per day: people assisted, oriented and rescued.
fn chart(days: &[Figures]) -> String {
    const H: f64 = 200.0; // plot height
    const TOP: f64 = 10.0;
    const LEFT: f64 = 40.0;
    const BAR: f64 = 6.0;
    const GROUP: f64 = 3.0 * BAR + 6.0;
    let max = days
        .iter()
        .flat_map(|d| [d.assisted, d.oriented, d.rescued])
        .max()
        .unwrap_or(0)
        .max(1);
    let width = LEFT + GROUP * days.len().max(1) as f64 + 10.0;
    let height = TOP + H + 30.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" \
         aria-label=\"Personas asistidas, orientadas y rescatadas por día\">"
    );
    // Axis and the top value.
    let base = TOP + H;
    let _ = writeln!(
        o,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\" stroke=\"#333\"/>\
         <line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{:.0}\" y2=\"{base}\" stroke=\"#333\"/>\
         <text x=\"{:.0}\" y=\"{:.0}\" font-size=\"10\" text-anchor=\"end\">{max}</text>\
         <text x=\"{:.0}\" y=\"{base}\" font-size=\"10\" text-anchor=\"end\">0</text>",
        width - 10.0,
        LEFT - 4.0,
        TOP + 8.0,
        LEFT - 4.0
    );
    for (i, d) in days.iter().enumerate() {
        let x0 = LEFT + 3.0 + GROUP * i as f64;
        for (j, (v, (es, _, colour))) in [d.assisted, d.oriented, d.rescued]
            .into_iter()
            .zip(SERIES)
            .enumerate()
        {
            let h = H * v as f64 / max as f64;
            let _ = writeln!(
                o,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{BAR}\" height=\"{h:.1}\" fill=\"{colour}\"><title>{} {}: {v}</title></rect>",
                x0 + BAR * j as f64,
                base - h,
                escape(&d.from),
                escape(es)
            );
        }
        // The day of the month under its group.
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.0}\" font-size=\"9\" text-anchor=\"middle\">{}</text>",
            x0 + 1.5 * BAR,
            base + 12.0,
            escape(d.from.get(8..10).unwrap_or(""))
        );
    }
    o.push_str("</svg>\n<p class=\"legend\">");
    for (es, en, colour) in SERIES {
        let _ = write!(
            o,
            "<span><span class=\"sw\" style=\"background:{colour}\"></span>{} <small>{}</small></span>",
            escape(es),
            escape(en)
        );
    }
    o.push_str("</p>\n");
    o
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::casework::stats::{compute, date_ms, By, Span};

    #[test]
    fn escape_leaves_nothing_that_html_reads() {
        assert_eq!(
            escape(r#"<script>alert("x&y")</script> l'eau"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; l&#39;eau"
        );
        assert_eq!(escape("Sásabe"), "Sásabe");
        assert_eq!(escape(""), "");
        for s in ["<", ">", "\"", "'", "&"] {
            assert!(!escape(&format!("a{s}b")).contains(s) || s == "&");
        }
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_the_station() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut c).unwrap();
        let span = Span::new(
            date_ms("2026-11-01").unwrap(),
            date_ms("2026-12-01").unwrap(),
            Some(By::Day),
        )
        .unwrap();
        let f = compute(&c, &span).unwrap();
        let page = monthly("SAS <b>", &f, "2026-12-01T00:00:00Z");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("Informe mensual \u{2014} SAS &lt;b&gt;"));
        assert!(page.contains("noviembre de 2026"));
        assert!(page.contains("<svg"));
        assert!(!page.contains("http"));
        assert!(page.contains("@media print"));
        assert_eq!(page.matches("<tr><td class=\"l\">2026-11-").count(), 30);
        for bad in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!page.contains(bad), "{bad}");
        }
        assert!(page.contains("Primeros auxilios <small>first_aid</small>"));
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(125), "2 min 05 s");
        assert_eq!(duration(3900), "1 h 05 min");
    }
}
