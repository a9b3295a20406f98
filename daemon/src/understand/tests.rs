//! The reader against the messages the stage-one trial missed or misread, and the shapes of
//! chat it must survive. The labelled corpus (`tests/data/intake/`, `faro-bench intake`) is
//! the wider measure.

use super::*;

fn verdict(t: &str) -> Verdict {
    read(t).verdict
}

#[track_caller]
fn yes(texts: &[&str]) {
    for t in texts {
        let r = read(t);
        assert_eq!(r.verdict, Verdict::Yes, "{t:?}: {r:?}");
    }
}

#[track_caller]
fn no(texts: &[&str]) {
    for t in texts {
        let r = read(t);
        assert_eq!(r.verdict, Verdict::No, "{t:?}: {r:?}");
    }
}

#[test]
fn distress_the_keyword_reader_missed_is_heard() {
    yes(&[
        "mi hijo no respira",
        "estamos perdidos",
        "nos dejó el coyote",
        "no tenemos agua",
        "Ayúdenos por favor",
        "ayudenme porfa",
        "AYUDAAAA",
        "auxlio",
        "S O S",
        "s.o.s",
        "rescate por favor",
        "una señora embarazada esta sangrando",
        "a mi amigo lo picó una víbora",
        "nosotro perdido no agua",
        "we are lost",
        "my son is not breathing",
        "aidez-nous",
        "nou pèdi",
        "ede nou",
        "nos ajude",
        "aiuda",
        "alluda por fabor",
        "nececito ayuda",
        "pueden ayudarnos",
        "🆘",
        "no se mueve",
        "nos perdimos",
    ]);
}

#[test]
fn what_is_no_emergency_opens_nothing() {
    no(&[
        "no necesito ayuda",
        "gracias por la ayuda de ayer",
        "Soy Socorro Hernández",
        "prueba de radio, no es emergencia",
        "não precisamos de ajuda",
        "we don't need help anymore",
        "saludos a doña Socorro",
        "el ayudante ya llegó",
        "test test",
        "a que hora abre el albergue",
        "Sosa",
    ]);
}

#[test]
fn signs_alone_are_worth_asking() {
    for t in [
        "estamos cansados",
        "hay alguien?",
        "tengo sed",
        "we are tired",
    ] {
        assert_eq!(verdict(t), Verdict::Maybe, "{t:?}");
    }
}

#[test]
fn kind_flags_people_and_the_words_that_decided() {
    let r = read("AUXILIO somos 3, una niña, sin agua");
    assert_eq!(r.verdict, Verdict::Yes);
    assert_eq!(r.kind, Some(Kind::Heat));
    assert_eq!(r.people, Some(3));
    assert!(r.flags.contains(&Flag::Children), "{r:?}");
    assert!(r.flags.contains(&Flag::Dehydration), "{r:?}");
    assert!(r.why.iter().any(|w| w.starts_with("\"auxilio\"")), "{r:?}");
    let r = read("mi hijo no respira");
    assert_eq!(r.kind, Some(Kind::Medical));
    assert!(r.flags.contains(&Flag::NotBreathing));
    assert!(
        r.why.iter().any(|w| w == "\"no respira\": not breathing"),
        "{r:?}"
    );
    let r = read("el rio se lo llevo, ayuda");
    assert_eq!(r.kind, Some(Kind::Drowning), "{r:?}");
    assert_eq!(read("somos 4 adultos y 2 niños").people, Some(6));
    assert_eq!(read("we are five, help").people, Some(5));
    assert_eq!(read("nou se 4 moun, ede nou").people, Some(4));
}

#[test]
fn the_usual_messages_say_what_they_say() {
    let r = read("ÈD! Nou se 2 moun, nou pèdi, yon fanm ansent");
    assert_eq!(
        (r.verdict, r.kind, r.people, r.flags.clone()),
        (
            Verdict::Yes,
            Some(Kind::Lost),
            Some(2),
            vec![Flag::Pregnant]
        ),
        "{r:?}"
    );
    let r = read("HELP we are lost near the fence, one injured");
    assert_eq!(
        (r.kind, r.flags.clone()),
        (Some(Kind::Medical), vec![Flag::Injured])
    );
    assert_eq!(
        read("Persona deshidratada en el km 12").kind,
        Some(Kind::Heat)
    );
    let r = read("niño solo en el río");
    assert_eq!(r.kind, Some(Kind::Drowning), "{r:?}");
    assert!(r.flags.contains(&Flag::UnaccompaniedMinor), "{r:?}");
}

#[test]
fn the_language_is_the_writers() {
    let lang = |t: &str| read(t).language;
    assert_eq!(lang("socorro a gente ta perdido"), Some(Lang::Pt));
    assert_eq!(lang("ajuda por favor"), Some(Lang::Pt));
    assert_eq!(lang("socorro estamos perdidos"), Some(Lang::Es));
    assert_eq!(lang("help we are lost"), Some(Lang::En));
    assert_eq!(lang("aidez nous s'il vous plait"), Some(Lang::Fr));
    assert_eq!(lang("ede nou tanpri nou pedi"), Some(Lang::Ht));
    assert_eq!(lang("SOS"), None, "a bare SOS says nothing of its writer");
}

#[test]
fn reading_never_panics_on_anything() {
    for t in [
        "",
        " ",
        "🆘🆘🆘",
        "\u{7}",
        "a b c d e f g",
        "ñññññññññ",
        "\u{300}\u{301}",
        "s o s o s o s",
        "9999999999999999999 personas",
    ] {
        let _ = read(t);
    }
}

#[test]
fn situations_told_in_their_own_words_are_heard() {
    yes(&[
        "se acabo el agua hace horas",
        "mi tio se desvanecio y no reacciona",
        "she fainted and wont wake up",
        "on a plus rien a boire depuis hier",
        "dlo a fini nou swaf",
        "acabou a agua faz dois dias",
        "el coyot se fue nosotro solo en desierto",
        "o guia foi embora e deixou a gente",
        "gid la kouri",
        "no estamos bien, ayuda",
        "baby hasnt eaten all day and is really hot",
        "hay un niño solo llorando junto al rio",
        "gracias, por favor ayuda estamos perdidos",
        "la lancha se volteo en el suchiate",
        "ma femme perd les eaux",
        "yo kenbe frè m yo mande lajan",
        "no aparece mi hijo desde ayer",
        "he won't wake up",
        "mon mari ne peut plus respirer",
    ]);
}

#[test]
fn words_of_distress_in_other_senses_open_nothing() {
    no(&[
        "nos dejaron pasar en la garita sin problema",
        "dying to see you guys tomorrow",
        "to morrendo de saudade kkkk",
        "help desk hours are 9 to 5",
        "god bless you all for the help last week",
        "mèsi pou tout èd nou te resevwa",
        "Socorro dice que ya esta en Hermosillo",
        "mi vecina se llama Socorro",
        "sou auxiliar de enfermagem se precisar de ajuda to aqui",
        "mi hijo se cayo jugando pero ya esta bien",
        "la corriente de luz se fue en el albergue",
        "yo di fwontyè a ap fèmen demen",
        "o rio subiu muito ontem mas ja baixou",
    ]);
}
