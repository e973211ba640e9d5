//! Organisation (company) names.
//!
//! [`normalize_org_name`] reduces a company name to the words that tell companies apart, so that
//! `"Apex Logistics Inc."`, `"APEX LOGISTICS"` and `"Apex Logistics, Incorporated"` all become
//! `"apex logistics"`. The steps, in order, on the tokens of [`fold`]:
//!
//! 1. **Business abbreviations** map to one canonical token, whichever way they are written:
//!    International/Intl → `intl`, Manufacturing/Mfg → `mfg`, Services/Service/Svcs → `svcs`,
//!    Technologies/Technology/Tech → `tech`, Brothers/Bros → `bros`, Company/Co/Cie/Cía → `co`,
//!    Group/Grp/Groupe/Gruppe/Grupo → `grp`, Associates/Assoc → `assoc`, Industries/Inds → `ind`,
//!    Corporation/Corp → `corp`, Incorporated/Inc → `inc`, Limited/Ltd → `ltd`, and the other
//!    usual ones (Systems/Sys, Distribution/Dist, Engineering/Eng, Products/Prods,
//!    Equipment/Equip, Supplies/Suppl, Electric/Elec, Construction/Constr, Partners/Ptnrs,
//!    Materials/Matls, Instruments/Instr, Logistics/Log, Holdings/Hldgs, Laboratories/Labs,
//!    Maschinenbau/Maschb., Établissements/Éts, ... — see `abbreviate`). Singular and plural
//!    share the token. [`abbreviation_long_forms`] lists the spellings behind a canonical token,
//!    so that similarity scores can meet a misspelt word (`"Logistcs"`) that this step leaves
//!    alone.
//! 2. **Connectors**: `&` and `+` are punctuation and vanish in folding, so the words for "and"
//!    (`and`, `und`, `u`, `et`, `e`, `y`, `i`, `en`, `og`, `och`) are dropped too — but only
//!    *between* two words, never first or last (`"Y Combinator"` keeps its `y`), and not when
//!    it starts a legal form at the end (`"e. Kfm."`). Hence `"A & B"` == `"A and B"` == `"A und B"` == `"A + B"`.
//! 3. **Initials**: runs of one-character tokens are joined into one word (before step 2, so
//!    `"P.H.U."` keeps its `u`, and again after it), so dotted and spaced abbreviations meet
//!    their compact spelling: `"S.A."` → `sa`, `"L.L.C."` → `llc`,
//!    `"Sp. z o.o."` → `sp zoo`, `"A/S"` → `as`, `"I.B.M."` → `ibm`, `"A & B"` → `ab`.
//! 4. **Legal forms** are removed as token sequences:
//!    * at the end, repeatedly, longest sequence first (`"GmbH & Co. KG"`, `"Pty Ltd"`,
//!      `"Public Limited Company"`, `"S.A. de C.V."`, ...); short or ambiguous forms (`Co`, `SA`,
//!      `AG`, `AB`, `SAS`, `SpA`, ...) are removed only there, where they mean a legal form;
//!    * anywhere, for the unambiguous single words (`Inc`, `Corp`, `LLC`, `Ltd`, `PLC`, `LLP`,
//!      `GmbH`, `mbH`, `KGaA`, `OHG`, `SARL`, `Ltda`, `Pty`, `Aktiengesellschaft`, ...), so that
//!      `"Acme Ltd (London)"` == `"Acme London"`; then initials are joined again and the end is
//!      stripped once more.
//!
//!    If removing legal forms would leave nothing (a company literally called `"SA"` or
//!    `"Company Ltd"`), nothing is removed: a name that had letters never normalises to "".
//! 5. Leading `the`s are dropped when other words remain (`"The Boeing Company"` == `"Boeing"`).
//!
//! The result is the remaining tokens joined by single spaces; the function is idempotent.
//! Transliterations are not guessed: `"Müller"` folds to `muller`, `"Mueller"` stays `mueller`
//! (one edit apart for a similarity score). [`legal_form`] reports the canonical legal form that
//! step 4 removed (the one at the very end when there are several), which is useful as weak
//! evidence when comparing two names.

use std::borrow::Cow;

use super::fold::{fold, tokens};

/// A normalised organisation name together with the legal form removed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgName {
    /// The normalised name, as [`normalize_org_name`] returns it.
    pub name: String,
    /// The canonical legal form that was removed, as [`legal_form`] returns it.
    pub legal_form: Option<&'static str>,
}

/// Normalises a company name for comparison: folded (accents, case, punctuation), business
/// abbreviations canonicalised, "and"-connectors dropped, initials joined, legal forms removed,
/// a leading "the" dropped. Returns "" only when `raw` holds no letter or digit. See the module
/// documentation for the exact rules.
pub fn normalize_org_name(raw: &str) -> String {
    analyse_org_name(raw).name
}

/// The canonical legal form (`"Inc"`, `"LLC"`, `"GmbH"`, `"GmbH & Co. KG"`, `"SA"`, `"B.V."` →
/// `"BV"`, ...) that [`normalize_org_name`] removes from `raw`, if any. When several are removed
/// (`"Foo GmbH, Berlin AG"`), the one at the very end wins. `None` when the name has none, or when
/// the name consists only of legal-form words (then nothing is removed).
pub fn legal_form(raw: &str) -> Option<&'static str> {
    analyse_org_name(raw).legal_form
}

/// [`normalize_org_name`] and [`legal_form`] in one pass.
pub fn analyse_org_name(raw: &str) -> OrgName {
    let folded = fold(raw);
    let mut toks = prepared_tokens(&folded);
    let mut found = None;

    strip_tail(&mut toks, &mut found);
    let before = toks.len();
    toks.retain(|t| match strong_form(t) {
        Some(name) => {
            found.get_or_insert(name);
            false
        }
        None => true,
    });
    if toks.len() < before {
        toks = canonical(toks);
        strip_tail(&mut toks, &mut found);
    }

    if toks.is_empty() {
        // Only legal-form words: keep them all rather than return nothing.
        toks = prepared_tokens(&folded);
        found = None;
    }
    let leading_the = toks.iter().take_while(|t| *t == "the").count();
    toks.drain(..leading_the.min(toks.len().saturating_sub(1)));

    let mut name = String::with_capacity(folded.len());
    for (i, t) in toks.iter().enumerate() {
        if i > 0 {
            name.push(' ');
        }
        name.push_str(t);
    }
    OrgName {
        name,
        legal_form: found,
    }
}

/// Steps 1 to 3: tokens of the folded name, abbreviations canonicalised, inner connectors
/// dropped, initials joined.
fn prepared_tokens(folded: &str) -> Vec<Cow<'_, str>> {
    canonical(
        tokens(folded)
            .map(|t| Cow::Borrowed(abbreviate(t)))
            .collect(),
    )
}

/// Steps 2 and 3 until nothing changes: dropping a connector can bring initials together
/// (`"A and B"`) and joining initials can spell a connector (`"o g"`).
fn canonical(mut toks: Vec<Cow<'_, str>>) -> Vec<Cow<'_, str>> {
    loop {
        toks = join_initials(toks);
        let n = toks.len();
        let inner = toks.get(1..n.saturating_sub(1)).unwrap_or_default();
        if !inner.iter().any(|t| is_connector(t)) {
            return toks;
        }
        let mut kept = Vec::with_capacity(n);
        for (i, t) in toks.iter().enumerate() {
            let drop = i > 0
                && i + 1 < n
                && is_connector(t)
                && !toks.get(i..).is_some_and(is_legal_sequence);
            if !drop {
                kept.push(t.clone());
            }
        }
        let changed = kept.len() < n;
        toks = kept;
        if !changed {
            return toks;
        }
    }
}

/// Step 3: every run of two or more one-character tokens becomes one token (itself
/// abbreviated: `"s v c"` → `svcs`).
fn join_initials(toks: Vec<Cow<'_, str>>) -> Vec<Cow<'_, str>> {
    if !toks.windows(2).any(|w| w.iter().all(|t| is_single_char(t))) {
        return toks;
    }
    let mut out: Vec<Cow<'_, str>> = Vec::with_capacity(toks.len());
    let mut run = String::new();
    for t in toks {
        if is_single_char(&t) {
            run.push_str(&t);
            continue;
        }
        flush_initials(&mut run, &mut out);
        out.push(t);
    }
    flush_initials(&mut run, &mut out);
    out
}

fn flush_initials<'a>(run: &mut String, out: &mut Vec<Cow<'a, str>>) {
    if run.is_empty() {
        return;
    }
    let joined = std::mem::take(run);
    out.push(match abbreviation(&joined) {
        Some(canonical) => Cow::Borrowed(canonical),
        None => Cow::Owned(joined),
    });
}

/// Removes legal forms from the end, longest sequence first, until none is left.
fn strip_tail(toks: &mut Vec<Cow<'_, str>>, found: &mut Option<&'static str>) {
    while let Some((name, len)) = longest_tail_form(toks) {
        toks.truncate(toks.len().saturating_sub(len));
        found.get_or_insert(name);
    }
}

fn longest_tail_form(toks: &[Cow<'_, str>]) -> Option<(&'static str, usize)> {
    if !toks.last().is_some_and(|t| may_end_legal_form(t)) {
        return None;
    }
    let mut best: Option<(&'static str, usize)> = None;
    for (name, seqs) in LEGAL_FORMS {
        for seq in *seqs {
            if seq.len() > best.map_or(0, |(_, len)| len) && ends_with(toks, seq) {
                best = Some((name, seq.len()));
            }
        }
    }
    best
}

fn ends_with(toks: &[Cow<'_, str>], seq: &[&str]) -> bool {
    toks.len()
        .checked_sub(seq.len())
        .and_then(|start| toks.get(start..))
        .is_some_and(|tail| tail.iter().zip(seq).all(|(t, s)| t == s))
}

/// Whether `toks` is exactly one of the sequences of [`LEGAL_FORMS`] (so that the `e` of
/// `"e. Kfm."` is not taken for a connector).
fn is_legal_sequence(toks: &[Cow<'_, str>]) -> bool {
    LEGAL_FORMS.iter().any(|(_, seqs)| {
        seqs.iter()
            .any(|seq| seq.len() == toks.len() && ends_with(toks, seq))
    })
}

/// A quick filter: whether `t` is the last token of some sequence of [`LEGAL_FORMS`] (a test
/// keeps the two in step). Most names do not end in one, and then the table is not scanned.
fn may_end_legal_form(t: &str) -> bool {
    matches!(
        t,
        "inc"
            | "corp"
            | "co"
            | "llc"
            | "ltd"
            | "plc"
            | "llp"
            | "partnership"
            | "lp"
            | "pllc"
            | "kg"
            | "kgaa"
            | "gmbh"
            | "haftung"
            | "mbh"
            | "ag"
            | "aktiengesellschaft"
            | "kommanditgesellschaft"
            | "ohg"
            | "ug"
            | "haftungsbeschrankt"
            | "gbr"
            | "ek"
            | "kfm"
            | "kfr"
            | "eg"
            | "ev"
            | "sa"
            | "anonyme"
            | "anonima"
            | "akcyjna"
            | "sas"
            | "sasu"
            | "sarl"
            | "l"
            | "eurl"
            | "srl"
            | "spa"
            | "azioni"
            | "bv"
            | "bvba"
            | "vennootschap"
            | "nv"
            | "ab"
            | "publ"
            | "aktiebolag"
            | "aktiebolaget"
            | "asa"
            | "as"
            | "aktieselskab"
            | "aps"
            | "oy"
            | "oyj"
            | "oo"
            | "zoo"
            | "spzoo"
            | "sro"
            | "sl"
            | "slu"
            | "limitada"
            | "cv"
            | "pty"
            | "bhd"
            | "kk"
            | "kaisha"
            | "ltda"
            | "se"
    )
}

fn is_single_char(t: &str) -> bool {
    let mut chars = t.chars();
    chars.next().is_some() && chars.next().is_none()
}

/// Words meaning "and" (English, German and its abbreviation `u.`, French/Latin, Italian and
/// Portuguese, Spanish, Polish and Catalan, Dutch, Norwegian and Danish, Swedish).
fn is_connector(t: &str) -> bool {
    matches!(
        t,
        "and" | "und" | "u" | "et" | "e" | "y" | "i" | "en" | "og" | "och"
    )
}

/// Step 1: one canonical token for each business word and its abbreviations. Every canonical
/// token maps to itself.
fn abbreviate(t: &str) -> &str {
    abbreviation(t).unwrap_or(t)
}

/// Generates [`abbreviation`] and [`abbreviation_long_forms`] from one table: each canonical
/// token with the other spellings that map to it.
macro_rules! abbreviations {
    ($($canonical:literal => [$($form:literal),* $(,)?]),* $(,)?) => {
        /// The canonical token of a business word or abbreviation, if `t` is one.
        fn abbreviation(t: &str) -> Option<&'static str> {
            Some(match t {
                $($canonical $(| $form)* => $canonical,)*
                _ => return None,
            })
        }

        /// Every canonical abbreviation token.
        #[cfg(test)]
        const CANONICAL_ABBREVIATIONS: &[&str] = &[$($canonical),*];

        /// Every spelling that [`normalize_org_name`] maps to the canonical token `canonical`
        /// other than the token itself (`"log"` → `logistics`, `logistic`, `logistik`, ...), or
        /// nothing when `canonical` is not a canonical abbreviation token. Similarity scores use
        /// them to meet a misspelt word that normalisation could not recognise
        /// (`"logistcs"` ↔ `log`).
        pub fn abbreviation_long_forms(canonical: &str) -> &'static [&'static str] {
            match canonical {
                $($canonical => &[$($form),*],)*
                _ => &[],
            }
        }
    };
}

abbreviations! {
    "intl" => ["international", "internationale", "internacional", "internazionale"],
    "mfg" => ["manufacturing"],
    "svcs" => ["services", "service", "svc"],
    "tech" => ["technologies", "technology", "techs"],
    "bros" => ["brothers"],
    "co" => ["company", "cie", "cia", "compagnie", "compania", "compagnia"],
    "grp" => ["group", "groupe", "gruppe", "grupo", "gruppo"],
    "assoc" => ["associates", "associate", "assocs"],
    "ind" => ["industries", "inds"],
    "corp" => ["corporation", "corpn"],
    "inc" => ["incorporated"],
    "ltd" => ["limited", "limitee"],
    "hldg" => ["holdings", "holding", "hldgs"],
    "lab" => ["laboratories", "laboratory", "labs"],
    "natl" => ["national"],
    "mgmt" => ["management", "mgt"],
    "dept" => ["department"],
    "ctr" => ["centre", "center"],
    "sys" => ["systems", "system"],
    "dist" => ["distribution", "distributors", "distributor", "distributing", "distribuciones", "distribuidora", "distr", "distrib"],
    "eng" => ["engineering", "engineers", "engg", "engr"],
    "prod" => ["products", "product", "prods"],
    "equip" => ["equipment", "eqpt"],
    "suppl" => ["supplies", "supply", "supp"],
    "elec" => ["electric", "electrical"],
    "constr" => ["construction", "constructions", "construcciones", "const"],
    "ptnrs" => ["partners", "partner", "ptnr", "prtnrs"],
    "matls" => ["materials", "material", "matl"],
    "instr" => ["instruments", "instrument", "instrs"],
    "log" => ["logistics", "logistic", "logistik", "logistique", "logistica"],
    "mktg" => ["marketing"],
    "assn" => ["association"],
    "univ" => ["university"],
    "comm" => ["communications", "comms"],
    "soln" => ["solutions", "solns"],
    "pharma" => ["pharmaceuticals", "pharmaceutical", "pharm"],
    "chem" => ["chemicals", "chemical"],
    "maschb" => ["maschinenbau"],
    "elektrotech" => ["elektrotechnik"],
    "ets" => ["etablissements", "etablissement", "etabl"],
    "handelsges" => ["handelsgesellschaft"],
}

/// Unambiguous single-word legal forms, removed wherever they stand.
fn strong_form(t: &str) -> Option<&'static str> {
    Some(match t {
        "inc" => "Inc",
        "corp" => "Corp",
        "llc" => "LLC",
        "ltd" => "Ltd",
        "plc" => "PLC",
        "llp" => "LLP",
        "pllc" => "PLLC",
        "gmbh" => "GmbH",
        "mbh" => "mbH",
        "kgaa" => "KGaA",
        "ohg" => "OHG",
        "sarl" => "SARL",
        "ltda" => "Ltda",
        "pty" => "Pty",
        "aktiengesellschaft" => "AG",
        "kommanditgesellschaft" => "KG",
        "aktiebolag" | "aktiebolaget" => "AB",
        "aktieselskab" => "A/S",
        _ => return None,
    })
}

type LegalForm = (&'static str, &'static [&'static [&'static str]]);

/// Legal forms as token sequences after steps 1 to 3 (so "Limited" is already `ltd`, "Company"
/// already `co`, and "S.A." already `sa`), with the canonical name reported by [`legal_form`].
const LEGAL_FORMS: &[LegalForm] = &[
    ("Inc", &[&["inc"]]),
    ("Corp", &[&["corp"]]),
    ("Co", &[&["co"]]),
    ("LLC", &[&["llc"], &["ltd", "liability", "co"]]),
    ("Ltd", &[&["ltd"]]),
    ("PLC", &[&["plc"], &["public", "ltd", "co"]]),
    ("LLP", &[&["llp"], &["ltd", "liability", "partnership"]]),
    ("LP", &[&["lp"], &["ltd", "partnership"]]),
    ("PLLC", &[&["pllc"]]),
    ("GmbH & Co. KG", &[&["gmbh", "co", "kg"]]),
    ("GmbH & Co. KGaA", &[&["gmbh", "co", "kgaa"]]),
    ("AG & Co. KG", &[&["ag", "co", "kg"]]),
    ("AG & Co. KGaA", &[&["ag", "co", "kgaa"]]),
    ("SE & Co. KG", &[&["se", "co", "kg"]]),
    (
        "GmbH",
        &[
            &["gmbh"],
            &["gesellschaft", "mit", "beschrankter", "haftung"],
        ],
    ),
    ("mbH", &[&["mbh"]]),
    ("AG", &[&["ag"], &["aktiengesellschaft"]]),
    ("KGaA", &[&["kgaa"]]),
    ("KG", &[&["kg"], &["kommanditgesellschaft"]]),
    ("OHG", &[&["ohg"]]),
    ("UG", &[&["ug"], &["ug", "haftungsbeschrankt"]]),
    ("GbR", &[&["gbr"]]),
    ("e.K.", &[&["ek"], &["e", "kfm"], &["e", "kfr"]]),
    ("eG", &[&["eg"]]),
    ("e.V.", &[&["ev"]]),
    (
        "SA",
        &[
            &["sa"],
            &["societe", "anonyme"],
            &["sociedad", "anonima"],
            &["spolka", "akcyjna"],
        ],
    ),
    ("SAS", &[&["sas"], &["sasu"]]),
    ("SARL", &[&["sarl"], &["s", "ar", "l"]]),
    ("EURL", &[&["eurl"]]),
    ("SRL", &[&["srl"]]),
    ("SpA", &[&["spa"], &["societa", "per", "azioni"]]),
    ("BV", &[&["bv"], &["bvba"], &["besloten", "vennootschap"]]),
    ("NV", &[&["nv"], &["naamloze", "vennootschap"]]),
    (
        "AB",
        &[&["ab"], &["ab", "publ"], &["aktiebolag"], &["aktiebolaget"]],
    ),
    ("ASA", &[&["asa"]]),
    ("A/S", &[&["as"], &["aktieselskab"]]),
    ("ApS", &[&["aps"]]),
    ("Oy", &[&["oy"], &["oyj"], &["oy", "ab"]]),
    (
        "Sp. z o.o.",
        &[&["sp", "zoo"], &["sp", "z", "oo"], &["spzoo"]],
    ),
    ("s.r.o.", &[&["sro"]]),
    ("SL", &[&["sl"], &["slu"], &["sociedad", "limitada"]]),
    ("S.A. de C.V.", &[&["sa", "de", "cv"]]),
    ("Pty Ltd", &[&["pty", "ltd"], &["proprietary", "ltd"]]),
    ("Pty", &[&["pty"]]),
    ("Pvt Ltd", &[&["pvt", "ltd"], &["private", "ltd"]]),
    ("Pte Ltd", &[&["pte", "ltd"]]),
    ("Sdn Bhd", &[&["sdn", "bhd"]]),
    ("Bhd", &[&["bhd"]]),
    ("KK", &[&["kk"], &["kabushiki", "kaisha"]]),
    ("Ltda", &[&["ltda"]]),
    ("SE", &[&["se"]]),
];

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("Apex Logistics Inc.", "apex log")]
    #[case("APEX LOGISTICS", "apex log")]
    #[case("Apex Logistics Inc", "apex log")]
    #[case("Apex Logistics INC.", "apex log")]
    #[case("Apex Logistics Incorporated", "apex log")]
    #[case("Apex Logistics, Inc.", "apex log")]
    #[case("apex-logistics inc", "apex log")]
    #[case("Apex Logistics LLC", "apex log")]
    #[case("Apex Logistics L.L.C.", "apex log")]
    #[case("Apex Logistics Limited Liability Company", "apex log")]
    #[case("Müller Maschinenbau GmbH", "muller maschb")]
    #[case("MÜLLER MASCHINENBAU GMBH", "muller maschb")]
    #[case("Müller Maschinenbau Gmbh", "muller maschb")]
    #[case("Muller Maschinenbau G.m.b.H.", "muller maschb")]
    #[case("Mueller Maschinenbau", "mueller maschb")]
    #[case("Lefèvre Transports S.A.", "lefevre transports")]
    #[case("Lefevre Transports SA", "lefevre transports")]
    #[case("Lefèvre Transports S.A", "lefevre transports")]
    #[case("Lefèvre Transports SAS", "lefevre transports")]
    #[case("Lefèvre Transports S.A.S.", "lefevre transports")]
    #[case("Lefèvre Transports S.à r.l.", "lefevre transports")]
    #[case("Lefèvre Transports Sàrl", "lefevre transports")]
    #[case("Woźniak Budownictwo Sp. z o.o.", "wozniak budownictwo")]
    #[case("Wozniak Budownictwo SP. Z O.O.", "wozniak budownictwo")]
    #[case("Woźniak Budownictwo Sp.z o.o.", "wozniak budownictwo")]
    #[case("Åberg Konsult AB", "aberg konsult")]
    #[case("Aberg Konsult Aktiebolag", "aberg konsult")]
    #[case("Søren Shipping A/S", "soren shipping")]
    #[case("Łódź Tekstil S.A.", "lodz tekstil")]
    #[case("Straße Bau GmbH & Co. KG", "strasse bau")]
    #[case("Strasse Bau GmbH & Co KG", "strasse bau")]
    #[case("Straße Bau GmbH u. Co. KG", "strasse bau")]
    #[case("Straße Bau GmbH + Co. KG", "strasse bau")]
    #[case("Van Dijk Logistiek B.V.", "van dijk logistiek")]
    #[case("Van Dijk Logistiek BV", "van dijk logistiek")]
    #[case("Van Dijk Logistiek N.V.", "van dijk logistiek")]
    #[case("Rossi Costruzioni S.r.l.", "rossi costruzioni")]
    #[case("Rossi Costruzioni SRL", "rossi costruzioni")]
    #[case("Rossi Costruzioni S.p.A.", "rossi costruzioni")]
    #[case("García Hermanos S.L.", "garcia hermanos")]
    #[case("Koala Freight Pty Ltd", "koala freight")]
    #[case("Koala Freight Pty. Ltd.", "koala freight")]
    #[case("Koala Freight Proprietary Limited", "koala freight")]
    #[case("Thames Water PLC", "thames water")]
    #[case("Thames Water Public Limited Company", "thames water")]
    #[case("Hugo Boss AG", "hugo boss")]
    #[case("Schmidt e.K.", "schmidt")]
    #[case("Acme Ltd (London)", "acme london")]
    #[case("Acme Co., Ltd.", "acme")]
    fn legal_forms_are_removed(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(normalize_org_name(raw), expected);
    }

    #[rstest]
    #[case("Procter & Gamble", "Procter and Gamble")]
    #[case("Procter & Gamble", "Procter + Gamble")]
    #[case("Procter & Gamble", "PROCTER&GAMBLE")]
    #[case("Schmidt & Söhne", "Schmidt und Söhne")]
    #[case("Moët & Chandon", "Moet et Chandon")]
    #[case("Pérez & Cía", "Perez y Compania")]
    #[case("Smith & Co", "Smith and Company")]
    #[case("Smith & Co.", "Smith")]
    #[case("AT&T Inc.", "AT and T")]
    #[case("Apex International Services", "Apex Intl Svcs")]
    #[case("Apex Manufacturing", "Apex Mfg.")]
    #[case("Apex Technologies", "Apex Tech")]
    #[case("Warner Brothers", "Warner Bros.")]
    #[case("Apex Group", "Apex Grp")]
    #[case("Apex Associates", "Apex Assoc.")]
    #[case("Apex Industries", "Apex Ind.")]
    #[case("Apex Corporation", "Apex Corp.")]
    #[case("Apex Int'l", "Apex International")]
    #[case("The Boeing Company", "Boeing")]
    #[case("McDonald's Corp", "McDonalds")]
    #[case("P.H.U. Wojciechowski Sp. z o.o.", "PHU Wojciechowski")]
    #[case("I.B.M.", "IBM")]
    #[case("A & B Supplies", "AB Supply")]
    #[case("A and B Supplies", "A.B. Suppl.")]
    #[case("Allen Constr LLC", "Allen Construction LLC")]
    #[case("Éts Mathieu Sàrl", "Établissements Mathieu SARL")]
    #[case("Schwaben Maschb. GmbH", "Schwaben Maschinenbau GmbH")]
    #[case("Pacific Dist Supply Inc", "Pacific Distribution Supply Inc.")]
    #[case("Schmidt e. Kfm.", "Schmidt")]
    #[case("Lefèvre S.àr.l.", "Lefevre")]
    fn variants_are_equal(#[case] a: &str, #[case] b: &str) {
        assert_eq!(
            normalize_org_name(a),
            normalize_org_name(b),
            "{a:?} vs {b:?}"
        );
    }

    #[rstest]
    #[case("Apex Logistics Inc.", "Apex Freight LLC")]
    #[case("Y Combinator", "Combinator")]
    #[case("SAS Institute", "Institute")]
    #[case("Co-operative Bank", "Operative Bank")]
    fn different_names_stay_different(#[case] a: &str, #[case] b: &str) {
        assert_ne!(
            normalize_org_name(a),
            normalize_org_name(b),
            "{a:?} vs {b:?}"
        );
    }

    #[rstest]
    #[case("SA", "sa")]
    #[case("S.A.", "sa")]
    #[case("E.K.", "ek")]
    #[case("Inc.", "inc")]
    #[case("Company Ltd", "co ltd")]
    #[case("The", "the")]
    #[case("and", "and")]
    #[case("& Co", "co")]
    #[case("Y", "y")]
    fn never_empty_when_there_were_letters(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(normalize_org_name(raw), expected);
        assert_eq!(legal_form(raw), None);
    }

    #[rstest]
    #[case("Apex Logistics Inc.", Some("Inc"))]
    #[case("Apex Logistics Incorporated", Some("Inc"))]
    #[case("Apex Logistics", None)]
    #[case("Apex L.L.C.", Some("LLC"))]
    #[case("Straße Bau GmbH & Co. KG", Some("GmbH & Co. KG"))]
    #[case("Straße Bau GmbH u. Co. KG", Some("GmbH & Co. KG"))]
    #[case("Lefèvre S.A.", Some("SA"))]
    #[case("Van Dijk B.V.", Some("BV"))]
    #[case("Koala Pty. Ltd.", Some("Pty Ltd"))]
    #[case("Woźniak Sp. z o.o.", Some("Sp. z o.o."))]
    #[case("Smith & Company", Some("Co"))]
    #[case("Acme Ltd (London)", Some("Ltd"))]
    #[case("Schmidt e.K.", Some("e.K."))]
    fn legal_form_is_reported(#[case] raw: &str, #[case] expected: Option<&str>) {
        assert_eq!(legal_form(raw), expected);
    }

    #[rstest]
    #[case("")]
    #[case("   ")]
    #[case("&&& ... ---")]
    #[case("😀😀")]
    #[case("\u{0301}\u{0301}")]
    #[case("\u{0000}\u{001F}")]
    fn nothing_gives_empty(#[case] raw: &str) {
        assert_eq!(normalize_org_name(raw), "");
        assert_eq!(legal_form(raw), None);
    }

    #[rstest]
    #[case("شركة النور ذ.م.م", "شركة النور ذمم")]
    #[case("\u{202E}Apex Inc\u{202C}", "apex")]
    #[case("Apex 😀 Logistics Ltd", "apex log")]
    #[case("Apex\u{0000}Logistics\tGmbH", "apex log")]
    fn hostile_names(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(normalize_org_name(raw), expected);
    }

    #[test]
    fn every_legal_form_sequence_is_removed_after_a_name() {
        for (name, seqs) in LEGAL_FORMS {
            for seq in *seqs {
                let raw = format!("Zyx {}", seq.join(" "));
                let got = analyse_org_name(&raw);
                assert_eq!(got.name, "zyx", "{raw:?}");
                assert_eq!(got.legal_form, Some(*name), "{raw:?}");
            }
        }
    }

    #[test]
    fn the_quick_filter_knows_every_ending() {
        for (name, seqs) in LEGAL_FORMS {
            for seq in *seqs {
                let last = seq.last().copied().unwrap_or_default();
                assert!(may_end_legal_form(last), "{name}: {last}");
            }
        }
    }

    #[test]
    fn canonical_tokens_are_fixed_points() {
        for t in [
            "intl", "mfg", "svcs", "tech", "bros", "co", "grp", "assoc", "ind", "corp", "inc",
            "ltd", "hldg", "lab", "natl", "mgmt", "dept", "ctr",
        ] {
            assert_eq!(abbreviate(t), t);
        }
    }

    #[test]
    fn long_forms_abbreviate_to_their_token() {
        for canonical in CANONICAL_ABBREVIATIONS {
            let forms = abbreviation_long_forms(canonical);
            assert!(!forms.is_empty(), "{canonical}");
            for form in forms {
                assert_ne!(form, canonical);
                // Similarity scores rely on it for a quick exit.
                assert_eq!(form.chars().next(), canonical.chars().next(), "{form}");
                assert_eq!(abbreviate(form), *canonical, "{form}");
                assert_eq!(abbreviate(canonical), *canonical, "{canonical}");
                assert_eq!(
                    normalize_org_name(&format!("Apex {form} Zyx")),
                    normalize_org_name(&format!("Apex {canonical} Zyx")),
                );
            }
        }
        assert!(abbreviation_long_forms("logistics").is_empty());
        assert!(abbreviation_long_forms("apex").is_empty());
        assert!(abbreviation_long_forms("").is_empty());
    }

    #[test]
    fn a_megabyte_is_fine() {
        let raw = "Müller & Söhne GmbH, ".repeat(50_000);
        assert!(raw.len() > 1_000_000);
        let once = normalize_org_name(&raw);
        assert!(once.starts_with("muller sohne"));
        assert_eq!(normalize_org_name(&once), once);
    }
}
