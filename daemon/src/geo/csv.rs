//! The gazetteer's CSV: `country,state,municipality,place,lat,lon,population` with a header
//! row, UTF-8, RFC 4180 quoting (names with commas are in double quotes, `""` is a quote).
//! One record per line: the data has no line breaks inside fields, so none are accepted.

use std::borrow::Cow;

use faro_proto::mesh::valid_coordinates;

use super::sphere::quote;
use super::Place;

/// The header row, exactly.
pub(super) const HEADER: &str = "country,state,municipality,place,lat,lon,population";

/// Country codes a gazetteer row may carry (the migrant route from Colombia to the United
/// States), so that [`Place::country`] is a `&'static str` and not one allocation per place.
const COUNTRIES: [&str; 10] = ["MX", "PA", "GT", "BZ", "SV", "HN", "NI", "CR", "CO", "US"];

const FIELDS: usize = 7;

/// Parses the whole file into places, in file order. Errors are one line and name the line.
pub(super) fn parse(text: &str) -> Result<Vec<Place>, String> {
    let mut lines = text.lines().enumerate().map(|(i, line)| (i + 1, line));
    match lines.next() {
        Some((_, header)) if header.trim_start_matches('\u{feff}').trim_end() == HEADER => {}
        _ => return Err(format!("gazetteer line 1: expected the header {HEADER}")),
    }
    let mut places = Vec::with_capacity(text.len() / 70);
    for (number, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let place = parse_record(line).map_err(|e| format!("gazetteer line {number}: {e}"))?;
        places.push(place);
    }
    if u32::try_from(places.len()).is_err() {
        return Err(format!("gazetteer: {} places, too many", places.len()));
    }
    Ok(places)
}

/// One data line into a place.
fn parse_record(line: &str) -> Result<Place, String> {
    let fields = split_fields(line.strip_suffix('\r').unwrap_or(line))?;
    let [country, state, municipality, name, lat, lon, population] =
        <[Cow<'_, str>; FIELDS]>::try_from(fields)
            .map_err(|f| format!("expected {FIELDS} fields, got {}", f.len()))?;
    let country = COUNTRIES
        .iter()
        .copied()
        .find(|c| *c == country)
        .ok_or_else(|| {
            format!(
                "unknown country {:?} (expected one of {})",
                quote(&country),
                COUNTRIES.join(" ")
            )
        })?;
    if state.trim().is_empty() {
        return Err("empty state".into());
    }
    if name.trim().is_empty() {
        return Err("empty place name".into());
    }
    let lat = number(&lat, "latitude")?;
    let lon = number(&lon, "longitude")?;
    if !valid_coordinates(lat, lon) {
        return Err(format!("{lat},{lon} is not a position"));
    }
    let population = population
        .parse::<u32>()
        .map_err(|_| format!("population {:?} is not a whole number", quote(&population)))?;
    Ok(Place {
        country,
        state: state.into_owned(),
        municipality: municipality.into_owned(),
        name: name.into_owned(),
        lat,
        lon,
        population,
    })
}

fn number(s: &str, what: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{what} {:?} is not a number", quote(s)))
}

/// Splits one line into fields, unquoting RFC 4180 quoted fields. Borrows unquoted fields.
fn split_fields(line: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let mut fields = Vec::with_capacity(FIELDS);
    let mut rest = line;
    loop {
        let after = if let Some(quoted) = rest.strip_prefix('"') {
            let (value, after) = unquote(quoted)?;
            fields.push(Cow::Owned(value));
            after
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = &rest[..end];
            if value.contains('"') {
                return Err(format!(
                    "field {}: a quote inside an unquoted field",
                    fields.len() + 1
                ));
            }
            fields.push(Cow::Borrowed(value));
            &rest[end..]
        };
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None if after.is_empty() => return Ok(fields),
            None => {
                return Err(format!(
                    "field {}: text after the closing quote",
                    fields.len()
                ))
            }
        }
    }
}

/// The value of a quoted field whose opening quote is already consumed, and the text after its
/// closing quote.
fn unquote(s: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut rest = s;
    loop {
        let Some(i) = rest.find('"') else {
            return Err("a quoted field is not closed".into());
        };
        value.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        match rest.strip_prefix('"') {
            Some(next) => {
                value.push('"');
                rest = next;
            }
            None => return Ok((value, rest)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Result<Vec<String>, String> {
        split_fields(line).map(|f| f.into_iter().map(Cow::into_owned).collect())
    }

    #[test]
    fn splits_plain_and_quoted_fields() {
        assert_eq!(fields("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            fields(r#"MX,"Barrio la Mesa, Rioyos Buenavista",x"#).unwrap(),
            ["MX", "Barrio la Mesa, Rioyos Buenavista", "x"]
        );
        assert_eq!(
            fields(r#""say ""hi""","","#).unwrap(),
            [r#"say "hi""#, "", ""]
        );
        assert_eq!(fields("").unwrap(), [""]);
    }

    #[test]
    fn refuses_broken_quoting() {
        assert_eq!(
            fields(r#"a,"open,b"#).unwrap_err(),
            "a quoted field is not closed"
        );
        assert_eq!(
            fields(r#"a,"x"y,b"#).unwrap_err(),
            "field 2: text after the closing quote"
        );
        assert_eq!(
            fields(r#"a,b"c,d"#).unwrap_err(),
            "field 2: a quote inside an unquoted field"
        );
    }

    #[test]
    fn accepts_crlf_and_a_bom() {
        let text = "\u{feff}country,state,municipality,place,lat,lon,population\r\n\
                    MX,Sonora,Sáric,Sásabe,31.47463,-111.54485,1295\r\n";
        let places = parse(text).unwrap();
        assert_eq!(places.len(), 1);
        assert_eq!(places[0].population, 1295);
        assert_eq!(places[0].name, "Sásabe");
    }
}
