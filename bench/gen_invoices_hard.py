#!/usr/bin/env python3
r"""Seeded invoice-matching generator with HARD extraction noise: a COPY of the shared bench's
gen_invoices.py (/work/shared/bench/gen_invoices.py, i.e. $CONCORD_BENCH_DIR/gen_invoices.py) with
new kinds of extraction noise that real invoice extraction (OCR + field extraction from PDFs,
e-mails, scans) produces and the shared generator never makes.

Everything of the shared generator is kept as it is: the same ledger, the same documents, the same
shared noise modes at the same rates, drawn from the same RNG streams. The new kinds ("hard.*") are
applied afterwards to each finished document, from an RNG stream of their own
("invoices-docs-{seed}-hard", plus "invoices-hard-vendor-{seed}-{vid}" for per-vendor constants such
as the VAT rate, payment terms, address), so:

    --hard-rate 0 gives exactly the shared generator's output. Checked with md5sum for
    --docs 2000 --refs 10000 --seed 1: refs.csv 9952a4f65eaa5487ce509f8036828a99, docs.csv
    8014b8c60095a57b3e35f4ec76dd97c0, truth.csv a1947eb2b888e3679f36c6cebb2b6646, noise_log.csv
    490c9cf19933266c7c1edacd614fb129 from both scripts (bench/check_invoices_hard.py checks it again).

    With any --hard-rate / --only, refs.csv, truth.csv, the document ids, filenames and kinds are the
    shared generator's (same seed); only the six extracted fields of some documents differ, and
    each hard kind applied is appended to the document's `modes` in noise_log.csv after the shared
    modes (e.g. "name.case;inv.prefix;hard.amount_net").

    Deterministic: the same arguments give byte-identical files (checked twice, with md5sum).

    python gen_invoices_hard.py --docs 2000 --refs 10000 --seed 11 --out DIR      # the `hard` set
    python gen_invoices_hard.py --docs 1000 --refs 5000 --seed 12 --only amount_net --out DIR
    python gen_invoices_hard.py ... --hard-rate 0.5        # half the hard noise; 0 = the shared output

Options: those of the shared generator (--docs --refs --seed --out --gzip) plus
    --hard-rate X   scales every hard kind's rate (default 1).
    --only K[,K]    applies only these kinds ("hard." prefix optional), each independently at rate
                    0.5 x X, so that one kind can be measured alone (per-kind sets).

Default mix (--hard-rate 1): the kinds' rates sum to 0.45. A document gets exactly one hard kind with
probability 0.35 and two with probability 0.05 (of different fields; the two layout kinds never come
in a pair), drawn in proportion to the rates among the kinds that apply to it (e.g. a day/month swap
needs a day <= 12); with X != 1 these are 0.35X and 0.05X (capped so that the mean stays 0.45X).
Measured on the `hard` set (2,000 x 10,000, seed 11): of the 1,777 matched documents 58.1 % carry
no hard kind, 36.9 % one, 5.0 % two. With one kind, the other fields still identify the ledger row
(a careful human can match it); `fields_missing` always leaves an identifier or the amount and two
core fields.

kind (mode name)       rate  share*  what real extraction does, and why
hard.name_address      .030  .030    vendor name with an address line appended ("Acme Inc\n123 Main St",
                                     ", 70173 Stuttgart"): the name box of the letterhead runs into the
                                     address block; line breaks survive from the PDF text layer.
hard.name_trade        .015  .018    the logo/brand ("APEX"), "X dba Y", or the parent company
                                     ("Müller Holding GmbH") printed larger than the legal name.
hard.name_truncated    .020  .021    fixed-width cut at 15-30 characters, often upper case ("COPPERFIELD
                                     INSTRUME"): EDI / legacy AP fields and scanning templates.
hard.name_remit        .008  .007    the remit-to bank, lockbox or factoring company ("JPMorgan Chase Bank,
                                     N.A.", "Riviera Finance LLC") taken from the payment block.
hard.name_buyer        .010  .014    the bill-to block, i.e. our own company ("Bill to: Northbridge
                                     Industries GmbH"): the most frequent vendor-name error of extractors.
hard.inv_other_ref     .030  .035    another reference in the number field: the PO number, our customer
                                     number at the vendor ("KD-10234"), an order/delivery-note number
                                     ("SO-123456", "LS 004512") printed next to the invoice number.
hard.inv_truncated     .025  .020    prefix lost ("INV-2024-000123" -> "000123"), leading zeros lost by a
                                     spreadsheet ("123"), or a fixed-width cut of the end ("INV-0001").
hard.inv_suffix        .015  .019    an extra suffix: "-1", "/A", "-R1", " Page 1", " 1/2", " (copy)":
                                     page footers, revisions and copy stamps next to the number.
hard.inv_spaces        .015  .021    spaces inserted ("INV 000 123", "0 0 3 9 5 6 4"): digit grouping
                                     and letter-spaced fonts that OCR reads as separate characters.
hard.date_due          .040  .043    the due date (invoice date + the vendor's payment terms, 7-90 days)
                                     taken instead of the invoice date: both are labelled dates.
hard.date_service      .025  .027    the delivery date (2-21 days earlier) or the service-period start /
                                     previous month's end (the "Leistungsdatum", mandatory in the EU).
hard.date_ocr_year     .012  .015    one OCR-misread digit of the year ("2024" -> "2021", "2074", "20Z4").
hard.date_dm_swap      .015  .007    day and month swapped where both readings are valid: written in the
                                     other convention, or normalised to ISO with the wrong locale.
hard.amount_net        .045  .050    the net (pre-tax) amount instead of the gross: gross / (1 + the
                                     vendor's VAT / GST / sales-tax rate: 19 %, 7 %, 20 %, 21 %, 8.1 %,
                                     13 %...): "Subtotal" / "Net" lines sit right above the total.
hard.amount_tax        .010  .012    the tax amount (the VAT line) instead of the total.
hard.amount_digit      .020  .026    one OCR digit confusion (1<->7, 5<->6, 3<->8, 8->0...) or two adjacent
                                     digits transposed (manual keying / correction of a scan).
hard.amount_decimal    .020  .021    the decimal mark lost: "1.234,50" -> "1.23450" (read as 1.2345),
                                     "817.89" -> "81789" (x100): a faint dot or comma on a scan.
hard.amount_sign       .012  .017    accounting notation the ledger does not have: "1.234,50-" (SAP),
                                     "(1,234.50)", "-1,234.50", "... CR" (credit-note / statement layouts).
hard.currency_wrong    .015  .008    a bare "$" of a CAD/AUD invoice read as USD, or the buyer's home
                                     currency (USD) filled in as the extractor's default.
hard.fields_missing    .020  .017    two or three fields empty at once: a bad scan, a cropped page, a
                                     second page that did not get extracted.
hard.field_shift       .012  .011    values in a neighbouring field: the date in the number field, the PO
                                     and invoice numbers swapped, the number in the PO field, the amount in
                                     the currency field (table/label misalignment).
hard.mojibake          .020  .008    UTF-8 read as Windows-1252 ("MÃ¼ller", "â‚¬") or a lossy decode
                                     ("M?ller", "M\ufffdller"); only documents with non-ASCII text.
hard.unicode_form      .018  .016    PDF text-layer characters: no-break spaces, full-width digits/letters
                                     ("ＩＮＶ－０００１２３"), ligatures ("ﬁ", "ﬂ"), a soft hyphen or a
                                     zero-width space inside the name or number.
* share = share of all documents of the `hard` set carrying the kind (it differs from the rate where a
  kind applies to few documents: its weight then goes to the kinds that do apply).

Outputs (as the shared generator) in --out: refs.csv, docs.csv, truth.csv, noise_log.csv (for error
analysis only -- a system under test must not read it nor truth.csv).

--- the shared generator's own docstring follows ---

Seeded generator for an invoice-matching benchmark task.

Reference rows (an ERP ledger) and documents (raw strings extracted from
invoice PDFs by an upstream system). Each matched document is a noisy copy of
one reference row; 10-15% of documents have no reference row at all.

    python gen_invoices.py --docs 2000 --refs 10000 --seed 1 --out data/invoices_public_s1

Outputs in --out:
    refs.csv       ref_id, vendor_name, vendor_tax_id, invoice_number, invoice_date,
                   amount, currency, po_number
    docs.csv       document_id, document_filename, vendor_name, invoice_number,
                   invoice_date, amount, currency, po_number
    truth.csv      document_id, ref_id  (ref_id empty: the document has no reference row)
    noise_log.csv  document_id, kind, modes   (what the generator did; for error analysis
                   only -- a system under test must not read it)

Determinism: only Python's `random.Random` seeded with strings is used, and
nothing iterates over sets or dicts whose order depends on hashing, so a given
(--docs, --refs, --seed) always yields byte-identical files.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import math
import os
import random
import re
import sys
import unicodedata

# ---------------------------------------------------------------------------
# Noise rates. Each is the probability that the mode is applied to a document
# field (when it is applicable).
# ---------------------------------------------------------------------------
MODES = {
    # vendor name
    "name.suffix_variant": 0.35,   # Inc <-> Inc. <-> Incorporated, GmbH <-> Gmbh, drop, Inc -> LLC
    "name.abbreviation": 0.20,     # International <-> Intl, Manufacturing <-> Mfg, and <-> &
    "name.acronym": 0.03,          # Global Logistics Partners Ltd -> GLP Ltd
    "name.drop_word": 0.08,        # Acme Office Supplies -> Acme Supplies
    "name.punctuation": 0.20,      # strip punctuation, comma before suffix, & <-> and
    "name.typo": 0.15,             # 1-2 character edits
    "name.ocr": 0.04,              # rn <-> m, l -> 1, cl -> d
    "name.case": 0.25,             # UPPER / lower / Title
    # invoice number
    "inv.prefix": 0.25,            # add or remove INV- / # / No.
    "inv.separator": 0.10,         # '-' '/' removed or changed
    "inv.ocr": 0.12,               # O<->0, I<->1, S<->5, B<->8
    "inv.drop_char": 0.06,         # one character lost
    "inv.case": 0.05,
    # date (format is always drawn from the vendor's locale formats)
    "date.shift": 0.12,            # +-1..5 days
    # amount (format always drawn from the vendor's styles)
    "amount.rounding": 0.05,       # rounded to whole units or off by a cent
    "amount.adjustment": 0.04,     # small fee added / early-payment discount
    # currency
    "currency.omitted": 0.06,      # currency field empty, but the amount string carries it
    # po number
    "po.missing": 0.15,
    "po.format": 0.20,             # PO prefix added/removed
}

# ---------------------------------------------------------------------------
# Countries, locales, names
# ---------------------------------------------------------------------------
# code: (weight, lang, currency, date_locale, amount_style, [(suffix, weight)])
COUNTRIES = [
    ("US", 40, "en", "USD", "us", "us", [("Inc.", 4), ("LLC", 3), ("Corp.", 2), ("Co.", 1)]),
    ("GB", 12, "en", "GBP", "uk", "us", [("Ltd", 6), ("PLC", 1), ("LLP", 1)]),
    ("CA", 5, "en", "CAD", "us", "us", [("Inc.", 3), ("Ltd", 2), ("Corp.", 1)]),
    ("AU", 2, "en", "AUD", "uk", "us", [("Pty Ltd", 5), ("Ltd", 1)]),
    ("DE", 12, "de", "EUR", "de", "eu", [("GmbH", 6), ("AG", 2), ("GmbH & Co. KG", 2)]),
    ("CH", 4, "de", "CHF", "de", "ch", [("AG", 5), ("GmbH", 3), ("SA", 1)]),
    ("FR", 7, "fr", "EUR", "uk", "fr", [("SAS", 4), ("SARL", 3), ("SA", 2)]),
    ("NL", 4, "nl", "EUR", "uk", "eu", [("B.V.", 6), ("N.V.", 1)]),
    ("ES", 4, "es", "EUR", "uk", "eu", [("S.L.", 5), ("S.A.", 2)]),
    ("IT", 4, "it", "EUR", "uk", "eu", [("S.r.l.", 5), ("S.p.A.", 2)]),
    ("SE", 3, "sv", "SEK", "iso", "fr", [("AB", 1)]),
    ("PL", 3, "pl", "PLN", "de", "fr", [("Sp. z o.o.", 5), ("S.A.", 1)]),
]
COUNTRY_BY_CODE = {c[0]: c for c in COUNTRIES}

SUFFIX_VARIANTS = {
    "Inc.": ["Inc", "Inc.", "Incorporated", "INC."],
    "LLC": ["LLC", "L.L.C.", "Llc"],
    "Corp.": ["Corp", "Corp.", "Corporation"],
    "Co.": ["Co", "Co.", "Company"],
    "Ltd": ["Ltd", "Ltd.", "Limited", "LTD"],
    "PLC": ["PLC", "plc", "Public Limited Company"],
    "LLP": ["LLP", "L.L.P."],
    "Pty Ltd": ["Pty Ltd", "Pty. Ltd.", "PTY LTD", "Proprietary Limited"],
    "GmbH": ["GmbH", "Gmbh", "G.m.b.H.", "GMBH"],
    "AG": ["AG", "A.G."],
    "GmbH & Co. KG": ["GmbH & Co. KG", "GmbH & Co KG", "GmbH u. Co. KG", "GmbH + Co. KG"],
    "SA": ["SA", "S.A."],
    "S.A.": ["S.A.", "SA", "S.A"],
    "SAS": ["SAS", "S.A.S.", "S.A.S"],
    "SARL": ["SARL", "S.A.R.L.", "Sàrl"],
    "B.V.": ["B.V.", "BV", "B.V"],
    "N.V.": ["N.V.", "NV"],
    "S.L.": ["S.L.", "SL", "S.L"],
    "S.r.l.": ["S.r.l.", "SRL", "Srl", "s.r.l."],
    "S.p.A.": ["S.p.A.", "SpA", "SPA"],
    "AB": ["AB", "Aktiebolag"],
    "Sp. z o.o.": ["Sp. z o.o.", "Sp.z o.o.", "sp. z o.o.", "SP. Z O.O."],
}
# wrong-but-plausible legal form (extraction picked another entity of the group, or a typo)
SUFFIX_SWITCH = {
    "Inc.": ["LLC", "Corp."], "LLC": ["Inc.", "Corp."], "Corp.": ["Inc.", "Co."], "Co.": ["Inc."],
    "Ltd": ["PLC", "LLP"], "PLC": ["Ltd"], "LLP": ["Ltd"], "Pty Ltd": ["Ltd"],
    "GmbH": ["AG", "GmbH & Co. KG"], "AG": ["GmbH"], "GmbH & Co. KG": ["GmbH"],
    "SA": ["SAS"], "SAS": ["SA", "SARL"], "SARL": ["SAS"], "B.V.": ["N.V."], "N.V.": ["B.V."],
    "S.L.": ["S.A."], "S.A.": ["S.L."], "S.r.l.": ["S.p.A."], "S.p.A.": ["S.r.l."],
    "AB": ["AB"], "Sp. z o.o.": ["S.A."],
}
EN_STEMS = """Acme Apex Summit Pinnacle Northwind Bluewater Ironclad Silverline Redwood Keystone
Horizon Meridian Evergreen Granite Beacon Cascade Liberty Pioneer Sterling Vanguard Atlas Orion
Phoenix Crescent Harbor Prairie Sequoia Titan Unity Vertex Zenith Allied Premier Coastal Frontier
Heritage Lakeside Midwest Northstar Oakridge Pacific Patriot Riverside Southern Sunrise Trinity
United Westfield Brightline Clearwater Copperfield Eagle Falcon Global Golden Highland Imperial
Kingston Landmark Madison Nova Omega Paramount Quantum Regal Sapphire Tristar Valley Anchor
Bayside Blackstone Cornerstone Delta Elmwood Foxglove Greystone Ironwood Juniper Maplewood""".split()
EN_SURNAMES = """Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore
Martin Jackson Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright Scott Hill
Green Adams Baker Nelson Carter Mitchell Roberts Turner Phillips Campbell Parker Evans Edwards
Collins Stewart Morris Murphy Cook Rogers Morgan Cooper Peterson Reed Bailey Bell Kelly Howard Ward
Cox Richardson Wood Watson Brooks Bennett Gray Hughes Price Sanders Myers Long Ross Foster""".split()
EN_INDUSTRY = """Widgets Supply Supplies Logistics Manufacturing Systems Technologies Services Consulting
Industries Holdings Solutions Partners Distribution Foods Packaging Electric Tools Paper
Chemicals Freight Staffing Software Metals Plastics Engineering Laboratories Products Associates
Components Materials Equipment Energy Medical Office Print Construction Transport Security
Analytics Networks Textiles Hardware Fasteners Robotics Instruments Controls""".split()

LANG_WORDS = {
    "de": dict(
        sur="""Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch
Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange
Schmitt Werner Krause Meier Lehmann Köhler Jäger Groß Weiß Günther Böhm Vogel Fuchs Scholz Möller""".split(),
        ind="""Maschinenbau Logistik Präzisionstechnik Verpackungen Elektrotechnik Metallbau Systemtechnik
Bürobedarf Stahlbau Kunststofftechnik Druckerei Spedition Gebäudetechnik Werkzeugbau Industriebedarf
Antriebstechnik Automation Lebensmittel Messtechnik Fördertechnik""".split(),
        stem="Nord Süd Rhein Alpen Elbe Main Hansa Bavaria Ruhr Schwaben Oder Weser Zürich Basel".split(),
    ),
    "fr": dict(
        sur="""Lefèvre Dubois Moreau Girard Bonnet Mercier François Gauthier Rousseau Fontaine Chevalier
Béranger Dupré Lemaître Lévêque Bénard Thibault Perrin Garnier Faure Morel Lambert Roussel Fournier
Giraud Hébert Mathieu Noël Lefebvre Ménard""".split(),
        ind="""Équipements Transports Emballages Électricité Fournitures Logistique Industries Technologies
Services Bâtiment Mécanique Imprimerie Matériaux Télécom""".split(),
        stem="Atlantique Provence Alsace Bretagne Normandie Rhône Lorraine Méditerranée".split(),
    ),
    "nl": dict(
        sur="""de Vries|van Dijk|Bakker|Jansen|Visser|Smit|Meijer|de Boer|Mulder|de Groot|Bos|Vos|Peters
|Hendriks|van Leeuwen|Dekker|Brouwer|de Wit|Dijkstra|Smits|van den Berg|Kuipers""".replace("\n", "").split("|"),
        ind="Techniek Logistiek Verpakkingen Installatietechniek Handel Bouw Transport Metaalbewerking".split(),
        stem="Noord Zuid Holland Delta Maas Rijn Zeeland Friesland".split(),
    ),
    "es": dict(
        sur="""García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Martín Jiménez Peña
Muñoz Ibáñez Núñez Castaño Ruiz Díaz Álvarez Romero Ordóñez Gutiérrez""".split(),
        ind="""Suministros Logística Construcciones Transportes Embalajes Ingeniería Distribuciones
Metalúrgica Electrónica""".split(),
        stem="Norte Levante Cantábrico Mediterráneo Ibérica Andalucía Galicia Castilla".split(),
    ),
    "it": dict(
        sur="""Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti
De Luca Mancini Costa Giordano Rizzo Lombardi Moretti Nicolò Fabbri""".replace("De Luca", "De_Luca").split(),
        ind="Meccanica Forniture Trasporti Imballaggi Elettronica Costruzioni Logistica Impianti Tecnologie".split(),
        stem="Adriatica Padana Tirrena Lombarda Veneta Toscana Alpina Sicula".split(),
    ),
    "sv": dict(
        sur="""Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson
Åberg Öberg Ström Sjöberg Björk Lindström Lundqvist Holmgren Bergström Åkesson Löfgren""".split(),
        ind="Verkstad Logistik Förpackningar Elteknik Bygg Handel Maskin Transport Stål".split(),
        stem="Norrland Skåne Göta Mälar Väst Öst Fjäll".split(),
    ),
    "pl": dict(
        sur="""Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak
Dąbrowski Kozłowski Łukasik Mazur Krawczyk Jankowski Wojciechowski Kwiatkowski Kaczmarek Piotrowski
Gołębiowski Żak""".split(),
        ind="Transport Budownictwo Opakowania Elektronika Handel Logistyka Meble Stal Instalacje".split(),
        stem="Mazowsze Pomorze Śląsk Wisła Karpaty Bałtyk Warta".split(),
    ),
}

ABBREVIATIONS = [
    ("International", "Intl"), ("Manufacturing", "Mfg"), ("Services", "Svcs"),
    ("Technologies", "Tech"), ("Systems", "Sys"), ("Brothers", "Bros"), ("Distribution", "Dist"),
    ("Industries", "Inds"), ("Associates", "Assoc"), ("Engineering", "Eng"),
    ("Laboratories", "Labs"), ("Products", "Prods"), ("Group", "Grp"), ("Equipment", "Equip"),
    ("Supplies", "Suppl"), ("Electric", "Elec"), ("Construction", "Constr"), ("Holdings", "Hldgs"),
    ("Partners", "Ptnrs"), ("Materials", "Matls"), ("Instruments", "Instr"), ("Logistics", "Log"),
    ("Maschinenbau", "Maschb."), ("Elektrotechnik", "Elektrotech."), ("Établissements", "Éts"),
    ("Distribuciones", "Distrib."), ("Construcciones", "Constr."), ("Handelsgesellschaft", "Handelsges."),
]

CONNECTORS = ("&", "and", "y", "et", "und")

# letters that Unicode decomposition does not fold to ASCII
LETTER_FOLD = {"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "oe", "Ø": "Oe", "æ": "ae", "Æ": "Ae"}

MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]

# currency spellings used in documents
CUR_SYMBOL = {"USD": ["$", "US$"], "EUR": ["€"], "GBP": ["£"], "CAD": ["C$", "CA$"],
              "AUD": ["A$", "AU$"], "CHF": ["SFr.", "Fr."], "SEK": ["kr"], "PLN": ["zł"]}
CUR_NAME = {"USD": ["US Dollar", "US dollars", "U.S. dollar"], "EUR": ["euro", "Euro", "euros"],
            "GBP": ["pound sterling", "Pounds Sterling", "British pound"],
            "CAD": ["Canadian dollar", "Canadian dollars"], "AUD": ["Australian dollar", "Australian dollars"],
            "CHF": ["Swiss franc", "Swiss francs"], "SEK": ["Swedish krona", "kronor"],
            "PLN": ["zloty", "Polish zloty"]}
AMOUNT_SYMBOL_POS = {"SEK": "suffix", "PLN": "suffix", "CHF": "prefix"}

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
KEYBOARD_NEIGHBOURS = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc", "g": "ftyhbv",
    "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop", "m": "njk", "n": "bhjm",
    "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz", "t": "rfgy", "u": "yhji",
    "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}


def typo(s: str, rng: random.Random) -> str:
    idx = [i for i, ch in enumerate(s) if ch.isalpha()]
    if len(idx) < 4:
        return s
    i = rng.choice(idx[1:])  # keep the first letter, as typists mostly do
    op = rng.random()
    ch = s[i]
    if op < 0.35:
        nb = KEYBOARD_NEIGHBOURS.get(ch.lower(), "aeiou")
        rep = rng.choice(nb)
        rep = rep.upper() if ch.isupper() else rep
        return s[:i] + rep + s[i + 1:]
    if op < 0.6:
        return s[:i] + s[i + 1:]
    if op < 0.8:
        return s[:i] + ch + s[i:]
    j = i + 1 if i + 1 < len(s) and s[i + 1].isalpha() else i - 1
    a, b = min(i, j), max(i, j)
    return s[:a] + s[b] + s[a] + s[b + 1:]


def strip_accents(s: str) -> str:
    s = "".join(LETTER_FOLD.get(c, c) for c in s)
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def weighted(rng: random.Random, pairs):
    items = [p[0] for p in pairs]
    weights = [p[1] for p in pairs]
    return rng.choices(items, weights=weights, k=1)[0]


def fmt_number(x: float, style: str, decimals: int = 2) -> str:
    s = f"{x:,.{decimals}f}"
    if style == "us":
        return s
    if style == "eu":
        return s.replace(",", "\0").replace(".", ",").replace("\0", ".")
    if style == "fr":
        return s.replace(",", " ").replace(".", ",")
    if style == "ch":
        return s.replace(",", "'")
    if style == "plain":
        return f"{x:.{decimals}f}"
    if style == "plain_comma":
        return f"{x:.{decimals}f}".replace(".", ",")
    raise ValueError(style)


# ---------------------------------------------------------------------------
# vendors and ledger rows
# ---------------------------------------------------------------------------
class Vendor:
    __slots__ = ("vid", "country", "lang", "currency", "date_locale", "amount_style", "suffix",
                 "base", "name", "tax_id", "inv_format", "seq", "amount_mu", "recurring",
                 "whole_amounts", "po_style", "stem", "known")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


def make_base_name(rng: random.Random, lang: str, stem: str | None = None):
    """Return (base name without legal suffix, stem used for families)."""
    if lang == "en":
        stem = stem or rng.choice(EN_STEMS + EN_SURNAMES)
        ind = rng.choice(EN_INDUSTRY)
        r = rng.random()
        if stem in EN_SURNAMES and r < 0.25:
            other = rng.choice(EN_SURNAMES)
            return (f"{stem} & {other}" if other != stem else f"{stem} & Sons"), stem
        if stem in EN_SURNAMES and r < 0.32:
            return f"{stem} Brothers {ind}", stem
        if r < 0.55:
            ind2 = rng.choice(EN_INDUSTRY)
            if ind2 != ind:
                return f"{stem} {ind} {ind2}", stem
        if r < 0.62:
            return f"{stem} {ind} International", stem
        if r < 0.66:
            return f"The {stem} Group", stem
        return f"{stem} {ind}", stem
    w = LANG_WORDS[lang]
    stem = stem or rng.choice(w["sur"] + w["stem"])
    stem_txt = stem.replace("_", " ")
    ind = rng.choice(w["ind"])
    r = rng.random()
    if lang == "de":
        if r < 0.15 and stem in w["sur"]:
            other = rng.choice(w["sur"])
            return f"{stem_txt} & {other}", stem
        if r < 0.35:
            return f"{ind} {stem_txt}", stem
        return f"{stem_txt} {ind}", stem
    if lang == "fr":
        if r < 0.15 and stem in w["sur"]:
            return f"Établissements {stem_txt}", stem
        if r < 0.3 and stem in w["sur"]:
            return f"{stem_txt} et Fils", stem
        if r < 0.75:
            return f"{ind} {stem_txt}", stem
        return f"{stem_txt} {ind}", stem
    if lang == "es":
        if r < 0.15 and stem in w["sur"]:
            return f"{stem_txt} Hermanos", stem
        if r < 0.3 and stem in w["sur"]:
            other = rng.choice(w["sur"])
            return f"{stem_txt} y {other}", stem
        return f"{ind} {stem_txt}", stem
    if lang == "it":
        if r < 0.15 and stem in w["sur"]:
            return f"{stem_txt} & Figli", stem
        if r < 0.75:
            return f"{ind} {stem_txt}", stem
        return f"{stem_txt} {ind}", stem
    if lang == "sv":
        if r < 0.2 and stem in w["sur"]:
            return f"{stem_txt} & Söner", stem
        return f"{stem_txt} {ind}", stem
    if lang == "pl":
        if r < 0.15 and stem in w["sur"]:
            return f"P.H.U. {stem_txt}", stem
        if r < 0.4:
            return f"{ind} {stem_txt}", stem
        return f"{stem_txt} {ind}", stem
    if lang == "nl":
        if r < 0.3:
            return f"{ind} {stem_txt}", stem
        return f"{stem_txt} {ind}", stem
    raise ValueError(lang)


def tax_id_for(rng: random.Random, country: str) -> str:
    d = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    return {
        "US": lambda: f"{d(2)}-{d(7)}", "GB": lambda: f"GB{d(9)}", "DE": lambda: f"DE{d(9)}",
        "FR": lambda: f"FR{d(2)}{d(9)}", "NL": lambda: f"NL{d(9)}B01", "ES": lambda: f"ESB{d(8)}",
        "IT": lambda: f"IT{d(11)}", "CH": lambda: f"CHE-{d(3)}.{d(3)}.{d(3)} MWST",
        "SE": lambda: f"SE{d(10)}01", "PL": lambda: f"PL{d(10)}", "CA": lambda: f"{d(9)}RT0001",
        "AU": lambda: f"ABN {d(2)} {d(3)} {d(3)} {d(3)}",
    }[country]()


INV_FORMATS = {
    "en": [("INV-{seq:06d}", 3), ("INV{seq:07d}", 2), ("{seq}", 3), ("{L}{seq:05d}", 2),
           ("SI-{seq:06d}", 1), ("INV-{y}-{seq:05d}", 2), ("{seq:08d}", 1), ("{LL}-{seq:05d}", 1)],
    "de": [("RE-{seq:06d}", 3), ("{y}-{seq:05d}", 2), ("RG{seq:07d}", 2), ("{seq}", 2), ("R{y}{seq:05d}", 1)],
    "fr": [("F{y}{seq:05d}", 3), ("FA-{seq:06d}", 2), ("{y}/{seq:05d}", 2), ("{seq}", 1)],
    "*": [("{y}/{seq:04d}", 2), ("{seq}", 2), ("INV-{seq:06d}", 2), ("{LL}{seq:06d}", 1), ("{y}-{seq:05d}", 1)],
}
INV_LETTERS = "ABCDEFGHJKLMNPRSTUVWXY"


def make_vendor(rng: random.Random, vid: int, used_names: set, families: list, known: bool,
                family_of: list | None = None) -> Vendor:
    for _attempt in range(200):
        if family_of is not None and rng.random() < 0.5 and family_of:
            parent = rng.choice(family_of)
            country = parent.country if rng.random() < 0.8 else weighted(rng, [(c[0], c[1]) for c in COUNTRIES])
            spec = COUNTRY_BY_CODE[country]
            if spec[2] != parent.lang:
                spec = COUNTRY_BY_CODE[parent.country]
            stem = parent.stem
        elif families and rng.random() < 0.25:
            parent = rng.choice(families)
            spec = COUNTRY_BY_CODE[parent.country]
            stem = parent.stem
        else:
            spec = COUNTRY_BY_CODE[weighted(rng, [(c[0], c[1]) for c in COUNTRIES])]
            stem = None
        code, _w, lang, cur, dloc, astyle, suffixes = spec
        base, stem = make_base_name(rng, lang, stem)
        suffix = weighted(rng, suffixes)
        name = f"{base} {suffix}"
        if name in used_names:
            continue
        used_names.add(name)
        fam_lang = INV_FORMATS.get(lang, INV_FORMATS["*"])
        letters = "".join(rng.choice(INV_LETTERS) for _ in range(2))
        v = Vendor(
            vid=vid, country=code, lang=lang, currency=cur, date_locale=dloc, amount_style=astyle,
            suffix=suffix, base=base, name=name,
            tax_id=tax_id_for(rng, code) if rng.random() < 0.4 else "",
            inv_format=(weighted(rng, fam_lang), letters), seq=rng.randint(100, 90000),
            amount_mu=rng.gauss(6.5, 1.3), recurring=rng.random() < 0.22,
            whole_amounts=rng.random() < 0.15, po_style="sap" if rng.random() < 0.7 else "po",
            stem=stem, known=known,
        )
        return v
    raise RuntimeError("could not draw a unique vendor name; vocabulary too small for this size")


def format_invoice_number(v: Vendor, seq: int, date: dt.date) -> str:
    fmt, letters = v.inv_format
    return fmt.format(seq=seq, y=date.year, L=letters[0], LL=letters)


def gen_vendor_rows(rng: random.Random, v: Vendor, k: int, po_counter: list) -> list[dict]:
    """k invoices of one vendor, with near dates / amounts and sequential numbers."""
    rows = []
    start = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 610))
    mean_gap = max(1.0, 540.0 / max(k, 1))
    base_amount = math.exp(v.amount_mu)
    fixed_amount = round(base_amount * math.exp(rng.gauss(0, 0.3)), 2)
    date = start
    amount = None
    prev_po = None
    for i in range(k):
        if i > 0:
            if v.recurring:
                date = start + dt.timedelta(days=30 * i + rng.randint(-2, 2))
            elif rng.random() < 0.18:
                pass  # same-day batch
            else:
                date = date + dt.timedelta(days=max(1, int(rng.expovariate(1.0 / mean_gap))))
        if v.recurring and rng.random() < 0.8:
            amount = fixed_amount
        elif amount is not None and rng.random() < 0.3:
            amount = round(amount * rng.uniform(0.9, 1.1), 2)  # near amount
        else:
            amount = round(base_amount * math.exp(rng.gauss(0, 0.6)), 2)
        amount = max(amount, 5.0)
        if v.whole_amounts:
            amount = float(round(amount))
        v.seq += 1 if rng.random() < 0.35 else rng.randint(2, 40)
        inv = format_invoice_number(v, v.seq, date)
        if rng.random() < 0.2:
            po = ""
        elif prev_po and rng.random() < 0.2:
            po = prev_po  # blanket PO shared by several invoices
        else:
            po_counter[0] += rng.randint(1, 7)
            po = (f"45{po_counter[0]:08d}" if v.po_style == "sap" else f"PO{po_counter[0] % 1000000:06d}")
        prev_po = po or prev_po
        rows.append(dict(vendor=v, invoice_number=inv, invoice_date=date, amount=amount,
                         currency=v.currency, po_number=po))
    return rows


# ---------------------------------------------------------------------------
# document noise
# ---------------------------------------------------------------------------
class Noiser:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.rates = dict(MODES)

    def hit(self, mode: str, applied: list) -> bool:
        p = self.rates.get(mode, 0.0)
        if p > 0 and self.rng.random() < p:
            applied.append(mode)
            return True
        return False

    # -- vendor name ----------------------------------------------------------
    def vendor_name(self, v: Vendor, row: dict, applied: list) -> str:
        rng = self.rng
        base, suffix = v.base, v.suffix
        tokens = base.split(" ")
        suf = suffix
        if self.hit("name.suffix_variant", applied):
            r = rng.random()
            if r < 0.25:
                suf = ""
            elif r < 0.35:
                suf = rng.choice(SUFFIX_SWITCH.get(suffix, [suffix]))
            else:
                opts = [x for x in SUFFIX_VARIANTS.get(suffix, [suffix]) if x != suffix] or [suffix]
                suf = rng.choice(opts)
        if self.rates.get("name.abbreviation") and rng.random() < self.rates["name.abbreviation"]:
            cands = []
            for i, t in enumerate(tokens):
                for full, short in ABBREVIATIONS:
                    if t == full:
                        cands.append((i, short))
                    elif t == short:
                        cands.append((i, full))
                if t == "&":
                    cands.append((i, "and"))
                elif t == "and":
                    cands.append((i, "&"))
            if cands:
                i, rep = rng.choice(cands)
                tokens[i] = rep
                applied.append("name.abbreviation")
        content = [t for t in tokens if t not in CONNECTORS and t != "The"]
        if len(content) >= 3 and self.hit("name.acronym", applied):
            tokens = ["".join(t[0].upper() for t in content)]
        elif len(tokens) >= 3 and self.hit("name.drop_word", applied):
            j = rng.choice([i for i in range(1, len(tokens)) if tokens[i] != "&"])
            tokens = tokens[:j] + tokens[j + 1:]
        name = " ".join(tokens) + (f" {suf}" if suf else "")
        if self.hit("name.punctuation", applied):
            r = rng.random()
            if r < 0.4:
                name = re.sub(r"[.,&'\-+]", "", name)
                name = re.sub(r"\s+", " ", name).strip()
            elif r < 0.7 and suf:
                name = " ".join(tokens) + f", {suf}"
            elif "&" in name:
                name = name.replace("&", "and")
            else:
                name = name.replace(" ", "-", 1) if rng.random() < 0.5 else name + "."
        if self.hit("name.typo", applied):
            name = typo(name, rng)
            if rng.random() < 0.2:
                name = typo(name, rng)
        if self.hit("name.ocr", applied):
            subs = [("rn", "m"), ("m", "rn"), ("l", "1"), ("cl", "d"), ("O", "0"), ("I", "l")]
            cands = [(a, b) for a, b in subs if a in name]
            if cands:
                a, b = rng.choice(cands)
                pos = [m.start() for m in re.finditer(re.escape(a), name)]
                p = rng.choice(pos)
                name = name[:p] + b + name[p + len(a):]
        if self.hit("name.case", applied):
            r = rng.random()
            name = name.upper() if r < 0.6 else (name.lower() if r < 0.9 else name.title())
        return name

    # -- invoice number -------------------------------------------------------
    def invoice_number(self, v: Vendor, row: dict, applied: list) -> str:
        rng = self.rng
        s = row["invoice_number"]
        if self.hit("inv.prefix", applied):
            m = re.match(r"^(INV-|INV|#)", s)
            if m and rng.random() < 0.7:
                s = s[m.end():]
            elif m:
                s = rng.choice(["#", "No. "]) + s
            else:
                s = rng.choice(["INV-", "#", "INV ", "No. ", "Invoice "]) + s
        if self.hit("inv.separator", applied):
            if re.search(r"[-/]", s):
                s = re.sub(r"[-/]", rng.choice(["", " ", "-", "/", "."]), s)
            else:
                m = re.search(r"[A-Za-z](?=\d)", s)
                if m:
                    s = s[:m.end()] + "-" + s[m.end():]
                else:
                    applied.pop()
        if self.hit("inv.ocr", applied):
            pairs = {"0": "O", "O": "0", "1": "I", "I": "1", "5": "S", "S": "5", "8": "B", "B": "8"}
            pos = [i for i, c in enumerate(s) if c in pairs]
            if pos:
                i = rng.choice(pos)
                s = s[:i] + pairs[s[i]] + s[i + 1:]
            else:
                applied.pop()
        if self.hit("inv.drop_char", applied):
            pos = [i for i, c in enumerate(s) if c.isalnum()]
            if len(pos) > 3:
                i = rng.choice(pos)
                s = s[:i] + s[i + 1:]
            else:
                applied.pop()
        if self.hit("inv.case", applied):
            s = s.lower()
        return s

    # -- date -------------------------------------------------------------------
    def date(self, v: Vendor, row: dict, applied: list) -> str:
        rng = self.rng
        d = row["invoice_date"]
        if self.hit("date.shift", applied):
            d = d + dt.timedelta(days=rng.choice([-1, 1]) * rng.randint(1, 5))
        loc = v.date_locale
        us_order = loc == "us"
        fmt = weighted(rng, {
            "us": [("iso", 2), ("slash", 5), ("long_us", 3), ("short", 1)],
            "uk": [("iso", 2), ("slash", 5), ("long", 1), ("long_us", 1), ("short", 1), ("dot", 1)],
            "de": [("iso", 2), ("dot", 6), ("slash", 2), ("long", 1)],
            "iso": [("iso", 7), ("slash", 2), ("short", 1)],
        }[loc])
        y = f"{d.year}"
        if fmt == "iso":
            return d.isoformat()
        if fmt == "slash":
            return f"{d.month:02d}/{d.day:02d}/{y}" if us_order else f"{d.day:02d}/{d.month:02d}/{y}"
        if fmt == "dot":
            return f"{d.day:02d}.{d.month:02d}.{y}"
        if fmt == "long_us":
            return f"{MONTHS_EN[d.month - 1]} {d.day}, {d.year}"
        if fmt == "long":
            return f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}"
        return f"{d.day} {MONTHS_EN[d.month - 1][:3]} {d.year}"

    # -- amount + currency ------------------------------------------------------
    def amount_currency(self, v: Vendor, row: dict, applied: list) -> tuple[str, str]:
        rng = self.rng
        x = row["amount"]
        cur = row["currency"]
        if self.hit("amount.rounding", applied):
            if x != round(x):
                x = float(round(x)) if rng.random() < 0.7 else round(x + rng.choice([-0.01, 0.01]), 2)
            else:
                x = round(x + rng.choice([-0.01, 0.01]), 2)
        if self.hit("amount.adjustment", applied):
            r = rng.random()
            if r < 0.4:
                x = round(x + rng.choice([4.95, 7.5, 9.99, 12.0, 15.0, 25.0]), 2)  # shipping / fee
            elif r < 0.8:
                x = round(x * (1 - rng.choice([0.02, 0.03])), 2)  # early-payment discount
            else:
                x = round(x - rng.uniform(0.5, 20.0), 2)
        # numeric string
        whole = abs(x - round(x)) < 1e-9
        style = weighted(rng, [(v.amount_style, 6), ("plain", 2),
                               ("plain_comma" if v.amount_style in ("eu", "fr") else "plain", 1),
                               ("us" if v.amount_style != "us" else "eu", 1)])
        num = fmt_number(x, style)
        if style.startswith("plain") and rng.random() < 0.5 and num.endswith("0"):
            num = num[:-1]  # 1234.50 -> 1234.5
        if whole and style == "plain" and rng.random() < 0.3:
            num = str(int(round(x)))

        # currency spellings
        def cur_word():
            r = rng.random()
            if r < 0.5:
                return cur
            if r < 0.75:
                return rng.choice(CUR_SYMBOL[cur])
            if r < 0.93:
                return rng.choice(CUR_NAME[cur])
            return cur.lower()

        # decoration of the amount string
        deco = weighted(rng, [("none", 55), ("symbol", 20), ("code_suffix", 15), ("code_prefix", 10)])
        if deco == "symbol":
            sym = rng.choice(CUR_SYMBOL[cur])
            pos = AMOUNT_SYMBOL_POS.get(cur, "prefix" if v.amount_style == "us" else rng.choice(["prefix", "suffix"]))
            amount_str = f"{sym}{num}" if pos == "prefix" and len(sym) <= 3 and not sym.endswith(".") else (
                f"{sym} {num}" if pos == "prefix" else f"{num} {sym}")
        elif deco == "code_suffix":
            amount_str = f"{num} {cur}"
        elif deco == "code_prefix":
            amount_str = f"{cur} {num}"
        else:
            amount_str = num
        if deco != "none" and self.hit("currency.omitted", applied):
            return amount_str, ""
        return amount_str, cur_word()

    # -- PO ---------------------------------------------------------------------
    def po(self, v: Vendor, row: dict, applied: list) -> str:
        rng = self.rng
        po = row["po_number"]
        if not po:
            return rng.choice(["N/A", "n/a", "-", "verbal"]) if rng.random() < 0.08 else ""
        if self.hit("po.missing", applied):
            return ""
        if self.hit("po.format", applied):
            if po.startswith("PO"):
                po = rng.choice(["", "PO-", "P.O. #", "PO# "]) + po[2:]
            else:
                po = rng.choice(["PO ", "PO#", "P.O. ", "PO-"]) + po
        return po


def filename_for(rng: random.Random, v: Vendor, row: dict, inv_doc: str, n: int) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", strip_accents(v.base)).strip("_")
    inv_clean = re.sub(r"[^A-Za-z0-9-]+", "", row["invoice_number"]) or "invoice"
    inv_doc_clean = re.sub(r"[^A-Za-z0-9-]+", "", inv_doc) or "invoice"
    kind = weighted(rng, [("scan", 25), ("inv", 12), ("slug_inv", 15), ("inv_date", 10), ("img", 10),
                          ("hex", 15), ("slug_space", 8), ("email", 5)])
    if kind == "scan":
        return f"scan_{n:06d}.pdf"
    if kind == "inv":
        return f"{inv_doc_clean}.pdf"
    if kind == "slug_inv":
        return f"{slug}_{inv_clean}.pdf"
    if kind == "inv_date":
        return f"Invoice_{inv_clean}_{row['invoice_date'].strftime('%Y%m%d')}.pdf"
    if kind == "img":
        return f"IMG_{rng.randint(1000, 9999)}.PDF"
    if kind == "hex":
        return "".join(rng.choice("0123456789abcdef") for _ in range(12)) + ".pdf"
    if kind == "slug_space":
        return f"{strip_accents(v.base)} - Invoice {inv_doc}.pdf".replace("/", "-")
    return f"attachment{rng.randint(1, 9)}.pdf"


# ---------------------------------------------------------------------------
# HARD EXTRACTION NOISE (new in this copy; everything above is the shared generator unchanged)
# ---------------------------------------------------------------------------
# kind -> (field group, rate). The rate is the kind's sampling weight and, in the default mix,
# about the share of documents that carry it (see the module docstring for the measured shares).
# The rates sum to 0.45: with the default mix (--hard-rate 1) 35 % of the documents carry exactly
# one hard kind and 5 % carry two (of different groups; never a "layout" kind in a pair).
HARD_KINDS = {
    # vendor name
    "hard.name_address": ("name", 0.030),
    "hard.name_trade": ("name", 0.015),
    "hard.name_truncated": ("name", 0.020),
    "hard.name_remit": ("name", 0.008),
    "hard.name_buyer": ("name", 0.010),
    # invoice number
    "hard.inv_other_ref": ("inv", 0.030),
    "hard.inv_truncated": ("inv", 0.025),
    "hard.inv_suffix": ("inv", 0.015),
    "hard.inv_spaces": ("inv", 0.015),
    # date
    "hard.date_due": ("date", 0.040),
    "hard.date_service": ("date", 0.025),
    "hard.date_ocr_year": ("date", 0.012),
    "hard.date_dm_swap": ("date", 0.015),
    # amount
    "hard.amount_net": ("amount", 0.045),
    "hard.amount_tax": ("amount", 0.010),
    "hard.amount_digit": ("amount", 0.020),
    "hard.amount_decimal": ("amount", 0.020),
    "hard.amount_sign": ("amount", 0.012),
    # currency
    "hard.currency_wrong": ("currency", 0.015),
    # layout (several fields at once)
    "hard.fields_missing": ("layout", 0.020),
    "hard.field_shift": ("layout", 0.012),
    # text encoding (applied last, over whatever the other kinds wrote)
    "hard.mojibake": ("encoding", 0.020),
    "hard.unicode_form": ("encoding", 0.018),
}
HARD_TOTAL = round(sum(r for _g, r in HARD_KINDS.values()), 6)  # 0.45
ONLY_RATE = 0.5  # with --only: each listed kind independently at this rate (x --hard-rate)

# VAT / sales-tax / GST rates by vendor country: (rate, weight); a vendor keeps one rate.
VAT_RATES = {
    "US": [(0.0625, 1), (0.07, 1), (0.0725, 1), (0.08, 1), (0.0825, 1), (0.0875, 1)],
    "GB": [(0.20, 9), (0.05, 1)], "CA": [(0.05, 3), (0.13, 3), (0.15, 1)], "AU": [(0.10, 1)],
    "DE": [(0.19, 8), (0.07, 2)], "CH": [(0.081, 9), (0.026, 1)], "FR": [(0.20, 8), (0.10, 1), (0.055, 1)],
    "NL": [(0.21, 8), (0.09, 2)], "ES": [(0.21, 8), (0.10, 2)], "IT": [(0.22, 8), (0.10, 2)],
    "SE": [(0.25, 8), (0.12, 2)], "PL": [(0.23, 8), (0.08, 2)],
}
# payment terms (days from the invoice date to the due date): (days, weight)
PAYMENT_TERMS = {
    "US": [(30, 6), (15, 1), (45, 1), (60, 1)], "CA": [(30, 6), (15, 1), (45, 1), (60, 1)],
    "GB": [(30, 6), (14, 2), (60, 1)], "AU": [(30, 4), (14, 2), (7, 1)],
    "DE": [(14, 4), (30, 5), (10, 1)], "CH": [(30, 6), (10, 1), (60, 1)], "FR": [(30, 3), (45, 3), (60, 3)],
    "NL": [(30, 6), (14, 2)], "ES": [(30, 3), (60, 4), (90, 1)], "IT": [(30, 3), (60, 4), (90, 2)],
    "SE": [(30, 6), (10, 1), (20, 1)], "PL": [(14, 4), (30, 4), (7, 1)],
}
ADDRESSES = {  # (street templates, city lines); {n} = house number
    "US": (["{n} Main St", "{n} Industrial Pkwy", "{n} Commerce Drive", "{n} Market Street, Suite 400",
            "{n} Enterprise Way", "P.O. Box {n}"],
           ["Springfield, IL 62704", "Columbus, OH 43215", "Austin, TX 78701", "Denver, CO 80202"]),
    "CA": (["{n} King St W", "{n} Rue Sherbrooke", "{n} Commerce Rd"],
           ["Toronto, ON M5H 1K4", "Montréal, QC H3A 1B9", "Calgary, AB T2P 1J9"]),
    "GB": (["{n} High Street", "Unit {n}, Riverside Industrial Estate", "{n} Station Road"],
           ["Manchester M1 2AB", "Leeds LS1 4DY", "Bristol BS1 5TR"]),
    "AU": (["{n} George Street", "{n} Collins St", "PO Box {n}"],
           ["Sydney NSW 2000", "Melbourne VIC 3000", "Brisbane QLD 4000"]),
    "DE": (["Hauptstraße {n}", "Industriestr. {n}", "Gewerbepark {n}", "Postfach {n}"],
           ["70173 Stuttgart", "80331 München", "50667 Köln", "28195 Bremen"]),
    "CH": (["Bahnhofstrasse {n}", "Industriestrasse {n}"], ["8001 Zürich", "4051 Basel", "3011 Bern"]),
    "FR": (["{n} rue de la République", "{n} avenue Jean Jaurès", "ZI des Périères, lot {n}"],
           ["69002 Lyon", "75011 Paris", "13001 Marseille"]),
    "NL": (["Keizersgracht {n}", "Industrieweg {n}"], ["1015 CJ Amsterdam", "3011 AD Rotterdam"]),
    "ES": (["Calle Mayor {n}", "Polígono Industrial Sur, nave {n}"], ["28013 Madrid", "08001 Barcelona"]),
    "IT": (["Via Roma {n}", "Via dell'Industria {n}"], ["20121 Milano", "10121 Torino", "40121 Bologna"]),
    "SE": (["Storgatan {n}", "Industrivägen {n}"], ["114 51 Stockholm", "411 03 Göteborg"]),
    "PL": (["ul. Długa {n}", "ul. Przemysłowa {n}"], ["00-238 Warszawa", "30-001 Kraków"]),
}
REMIT_BANKS = {
    "US": ["JPMorgan Chase Bank, N.A.", "Wells Fargo Bank, N.A.", "Bank of America Lockbox Services",
           "PNC Bank Lockbox"],
    "CA": ["Royal Bank of Canada", "The Toronto-Dominion Bank"], "AU": ["Commonwealth Bank of Australia",
                                                                       "Westpac Banking Corporation"],
    "GB": ["Barclays Bank PLC", "HSBC UK Bank plc", "Lloyds Bank plc"],
    "DE": ["Deutsche Bank AG", "Commerzbank AG", "Kreissparkasse Köln"], "CH": ["UBS Switzerland AG",
                                                                                "Zürcher Kantonalbank"],
    "FR": ["BNP Paribas", "Société Générale", "Crédit Agricole"], "NL": ["ING Bank N.V.", "ABN AMRO Bank N.V."],
    "ES": ["Banco Santander, S.A.", "BBVA"], "IT": ["Intesa Sanpaolo S.p.A.", "UniCredit S.p.A."],
    "SE": ["Svenska Handelsbanken AB", "Nordea Bank Abp"], "PL": ["PKO Bank Polski S.A.", "Bank Pekao S.A."],
}
FACTORS = ["Riviera Finance LLC", "Eurofactor", "Coface Finanz GmbH", "BNP Paribas Factor", "Bibby Financial Services"]
BUYER = "Northbridge Industries"  # the buyer whose ledger this is (its bill-to block is on every invoice)
BUYER_SUFFIX = {"US": "Inc.", "CA": "Inc.", "GB": "Ltd", "AU": "Pty Ltd", "DE": "GmbH", "CH": "AG", "FR": "SAS",
                "NL": "B.V.", "ES": "S.L.", "IT": "S.r.l.", "SE": "AB", "PL": "Sp. z o.o."}
BUYER_CURRENCY = "USD"  # the buyer's home currency, an extractor's default
BRAND_WORDS = ["Direct", "Express", "Pro", "Online", "Solutions", "Trade"]
INV_SUFFIXES = ["-1", "/A", "-01", " Page 1", " 1/2", " (copy)", "-R1", "/1", " p.1"]
OCR_DIGIT = {"0": "86", "1": "7", "3": "85", "5": "63", "6": "58", "7": "1", "8": "306", "9": "4", "2": "7", "4": "19"}
YEAR_OCR = {"0": "869O", "1": "7", "2": "7Z", "3": "8", "4": "19", "5": "6", "6": "5", "7": "1", "8": "3", "9": "4"}
FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-/#."}
LIGATURES = [("ffi", "\ufb03"), ("ffl", "\ufb04"), ("ff", "\ufb00"), ("fi", "\ufb01"), ("fl", "\ufb02")]


class HardProfile:
    """Per-vendor constants the hard noise needs (its own RNG stream, so the ledger is untouched)."""
    __slots__ = ("vat", "terms", "street", "city", "customer_no", "bank", "brand_word")

    def __init__(self, v: Vendor, seed: int):
        r = random.Random(f"invoices-hard-vendor-{seed}-{v.vid}")
        self.vat = weighted(r, VAT_RATES[v.country])
        self.terms = weighted(r, PAYMENT_TERMS[v.country])
        streets, cities = ADDRESSES[v.country]
        self.street = r.choice(streets).format(n=r.randint(2, 980) if r.random() < 0.8 else r.randint(1000, 9999))
        self.city = r.choice(cities)
        d = lambda n: "".join(r.choice("0123456789") for _ in range(n))  # noqa: E731
        self.customer_no = r.choice({
            "de": [f"KD-{d(5)}", f"Kd.-Nr. {d(6)}", f"{d(5)}"], "fr": [f"CL{d(5)}", f"Client {d(6)}"],
        }.get(v.lang, [f"CUST{d(6)}", f"Acct {d(4)}-{d(2)}", f"{d(6)}", f"C-{d(5)}"]))
        self.bank = r.choice(REMIT_BANKS[v.country])
        self.brand_word = r.choice(BRAND_WORDS)


def hard_parse_date(s: str, v: Vendor):
    """(date, format) of a date string the shared generator wrote, else None."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", s)
    if m:
        return dt.date(int(m[1]), int(m[2]), int(m[3])), "iso"
    m = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", s)
    if m:
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        return (dt.date(y, a, b) if v.date_locale == "us" else dt.date(y, b, a)), "slash"
    m = re.fullmatch(r"(\d{2})\.(\d{2})\.(\d{4})", s)
    if m:
        return dt.date(int(m[3]), int(m[2]), int(m[1])), "dot"
    m = re.fullmatch(r"([A-Z][a-z]+) (\d{1,2}), (\d{4})", s)
    if m and m[1] in MONTHS_EN:
        return dt.date(int(m[3]), MONTHS_EN.index(m[1]) + 1, int(m[2])), "long_us"
    m = re.fullmatch(r"(\d{1,2}) ([A-Z][a-z]+) (\d{4})", s)
    if m:
        if m[2] in MONTHS_EN:
            return dt.date(int(m[3]), MONTHS_EN.index(m[2]) + 1, int(m[1])), "long"
        short = [x[:3] for x in MONTHS_EN]
        if m[2] in short:
            return dt.date(int(m[3]), short.index(m[2]) + 1, int(m[1])), "short"
    return None


def hard_render_date(d: dt.date, fmt: str, v: Vendor) -> str:
    if fmt == "iso":
        return d.isoformat()
    if fmt == "slash":
        return f"{d.month:02d}/{d.day:02d}/{d.year}" if v.date_locale == "us" else f"{d.day:02d}/{d.month:02d}/{d.year}"
    if fmt == "dot":
        return f"{d.day:02d}.{d.month:02d}.{d.year}"
    if fmt == "long_us":
        return f"{MONTHS_EN[d.month - 1]} {d.day}, {d.year}"
    if fmt == "long":
        return f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}"
    return f"{d.day} {MONTHS_EN[d.month - 1][:3]} {d.year}"


_NUM_RE = re.compile(r"\d[\d.,' ]*\d|\d")


def hard_split_amount(s: str):
    """(before, number, after, value, decimal mark or '', group mark or '') of an amount string."""
    m = _NUM_RE.search(s)
    if not m:
        return None
    num = m.group(0)
    dm = re.search(r"[.,](\d{1,2})$", num)
    dec = num[dm.start()] if dm else ""
    body = num[:dm.start()] if dm else num
    grp = next((c for c in body if c in ".,' "), "")
    digits = re.sub(r"\D", "", body)
    value = float(digits + "." + (dm.group(1) if dm else "0"))
    return s[:m.start()], num, s[m.end():], value, dec, grp


_STYLE_OF = {(".", ","): "us", (",", "."): "eu", (",", " "): "fr", (".", "'"): "ch", (".", ""): "plain",
             (",", ""): "plain_comma"}
_STYLE_MARKS = {"us": (".", ","), "eu": (",", "."), "fr": (",", " "), "ch": (".", "'")}


def hard_render_amount(x: float, dec: str, grp: str, old_value: float, v: Vendor) -> str:
    vdec, vgrp = _STYLE_MARKS[v.amount_style]
    if not dec:
        dec = vdec
    if not grp and old_value < 1000:  # grouping not visible in the original: the vendor's own
        grp = vgrp if dec == vdec else ("," if dec == "." else ".")
    return fmt_number(x, _STYLE_OF.get((dec, grp), "plain"))


def _set_amount(doc: dict, ctx: dict, new_value: float) -> bool:
    sp = hard_split_amount(doc["amount"])
    if not sp or new_value <= 0:
        return False
    before, _num, after, value, dec, grp = sp
    new = before + hard_render_amount(new_value, dec, grp, value, ctx["v"]) + after
    if new == doc["amount"]:
        return False
    doc["amount"] = new
    return True


# -- the kinds: each takes (doc, ctx, rng), changes doc in place and returns True, or returns
#    False (doc untouched) when the document offers nothing for it. Applicability depends on the
#    document only, never on the random draws.
def h_name_address(doc, ctx, rng):
    if not doc["vendor_name"]:
        return False
    p = ctx["prof"]
    r = rng.random()
    addr = p.street if r < 0.55 else (f"{p.street}, {p.city}" if r < 0.85 else p.city)
    sep = weighted(rng, [("\n", 45), (", ", 30), (" ", 15), (" - ", 10)])
    doc["vendor_name"] = doc["vendor_name"] + sep + addr
    return True


def h_name_trade(doc, ctx, rng):
    v, p = ctx["v"], ctx["prof"]
    if not doc["vendor_name"]:
        return False
    stem = v.stem.replace("_", " ")
    r = rng.random()
    if r < 0.4:
        new = stem.upper() if rng.random() < 0.6 else stem  # the logo / brand
    elif r < 0.7:
        new = f"{doc['vendor_name']} dba {stem} {p.brand_word}"
    else:
        word = {"de": "Holding", "fr": "Groupe", "it": "Holding", "es": "Grupo", "nl": "Groep"}.get(v.lang, "Holdings")
        new = f"{word} {stem} {v.suffix}" if v.lang in ("fr", "es") else f"{stem} {word} {v.suffix}"
    if new == doc["vendor_name"]:
        return False
    doc["vendor_name"] = new
    return True


def h_name_truncated(doc, ctx, rng):
    name = doc["vendor_name"]
    widths = [w for w in (15, 16, 18, 20, 24, 25, 30) if w <= len(name) - 3]
    if not widths:
        return False
    new = name[:rng.choice(widths)].rstrip()
    doc["vendor_name"] = new.upper() if rng.random() < 0.5 else new
    return True


def h_name_remit(doc, ctx, rng):
    p = ctx["prof"]
    r = rng.random()
    if r < 0.5:
        new = p.bank
    elif r < 0.75:
        new = f"{p.bank} f/b/o {ctx['v'].name}"
    else:
        new = rng.choice(FACTORS)
    doc["vendor_name"] = new
    return True


def h_name_buyer(doc, ctx, rng):
    buyer = f"{BUYER} {BUYER_SUFFIX[ctx['v'].country]}"
    r = rng.random()
    doc["vendor_name"] = (buyer if r < 0.5 else buyer.upper() if r < 0.7 else
                          f"{buyer}\nAccounts Payable" if r < 0.85 else f"Bill to: {buyer}")
    return True


def h_inv_other_ref(doc, ctx, rng):
    v, row, p = ctx["v"], ctx["row"], ctx["prof"]
    d = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    y = row["invoice_date"].year
    order = {"de": [f"AB-{y}-{d(5)}", f"LS {d(6)}"], "fr": [f"BL{d(6)}", f"CMD-{d(5)}"]}.get(
        v.lang, [f"SO-{d(6)}", f"Order {d(6)}", f"DN{d(7)}"])
    opts = [(p.customer_no, 30), (rng.choice(order), 35)]
    if row["po_number"]:
        opts.append((row["po_number"], 35))
    new = weighted(rng, opts)
    if new == doc["invoice_number"]:
        return False
    doc["invoice_number"] = new
    return True


def h_inv_truncated(doc, ctx, rng):
    s = doc["invoice_number"]
    m = re.search(r"\d+$", s)
    variants = []
    if m and m.start() > 0 and len(m.group(0)) >= 3:
        variants.append(("prefix", 45))  # INV-2024-000123 -> 000123
    if m and m.group(0).startswith("0") and m.group(0).lstrip("0"):
        variants.append(("zeros", 25))   # INV-000123 -> 123 (a spreadsheet read it as a number)
    if len(s) >= 7:
        variants.append(("cut", 30))     # INV-000123 -> INV-0001 (a fixed-width field)
    if not variants and re.fullmatch(r"\d{6,}", s):
        variants.append(("lead", 1))     # 20240123 -> 240123
    if not variants:
        return False
    how = weighted(rng, variants)
    if how == "prefix":
        new = m.group(0)
    elif how == "zeros":
        new = m.group(0).lstrip("0")
    elif how == "cut":
        new = s[:len(s) - rng.randint(1, 3)].rstrip("-/ ")
    else:
        new = s[rng.randint(2, 3):]
    if not new or new == s:
        return False
    doc["invoice_number"] = new
    return True


def h_inv_suffix(doc, ctx, rng):
    s = doc["invoice_number"]
    if not s:
        return False
    suf = rng.choice(INV_SUFFIXES + ([" Seite 1"] if ctx["v"].lang == "de" else []))
    doc["invoice_number"] = s + suf
    return True


def h_inv_spaces(doc, ctx, rng):
    s = doc["invoice_number"]
    if len(re.sub(r"\W", "", s)) < 4:
        return False
    r = rng.random()
    if r < 0.5:  # INV-000123 -> INV 000 123
        toks = re.findall(r"[A-Za-z]+|\d+", s)
        out = []
        for t in toks:
            if t.isdigit() and len(t) > 4:
                head = len(t) % 3 or 3
                t = " ".join([t[:head]] + [t[i:i + 3] for i in range(head, len(t), 3)])
            out.append(t)
        new = " ".join(out)
    elif r < 0.7:  # letter-spaced font
        new = " ".join(c for c in s if c != " ")
    else:
        pos = [i for i in range(1, len(s)) if s[i] != " " and s[i - 1] != " "]
        i = rng.choice(pos)
        new = s[:i] + " " + s[i:]
    if new == s:
        new = s[:2] + " " + s[2:]
    doc["invoice_number"] = new
    return True


def _date_of(doc, ctx):
    return hard_parse_date(doc["invoice_date"], ctx["v"]) if doc["invoice_date"] else None


def h_date_due(doc, ctx, rng):
    pd_ = _date_of(doc, ctx)
    if not pd_:
        return False
    d, fmt = pd_
    doc["invoice_date"] = hard_render_date(d + dt.timedelta(days=ctx["prof"].terms), fmt, ctx["v"])
    return True


def h_date_service(doc, ctx, rng):
    pd_ = _date_of(doc, ctx)
    if not pd_:
        return False
    d, fmt = pd_
    r = rng.random()
    if r < 0.6:
        new = d - dt.timedelta(days=rng.randint(2, 21))         # delivery date
    elif r < 0.8 and d.day > 1:
        new = d.replace(day=1)                                    # service period start
    else:
        new = d.replace(day=1) - dt.timedelta(days=1)             # service period: last month's end
    doc["invoice_date"] = hard_render_date(new, fmt, ctx["v"])
    return True


def h_date_ocr_year(doc, ctx, rng):
    s = doc["invoice_date"]
    m = re.search(r"\b(20\d\d)\b", s)
    if not m:
        return False
    y = m.group(1)
    i = weighted(rng, [(3, 6), (2, 3), (1, 1)])
    new_y = y[:i] + rng.choice(YEAR_OCR[y[i]]) + y[i + 1:]
    doc["invoice_date"] = s[:m.start()] + new_y + s[m.end():]
    return True


def h_date_dm_swap(doc, ctx, rng):
    pd_ = _date_of(doc, ctx)
    if not pd_:
        return False
    d, fmt = pd_
    if d.day > 12 or d.day == d.month:
        return False
    swapped = dt.date(d.year, d.day, d.month)
    if fmt in ("slash", "dot") and rng.random() < 0.5:
        doc["invoice_date"] = hard_render_date(swapped, fmt, ctx["v"])  # written in the other convention
    else:
        doc["invoice_date"] = swapped.isoformat()                        # normalised with the wrong locale
    return True


def h_amount_net(doc, ctx, rng):
    sp = hard_split_amount(doc["amount"]) if doc["amount"] else None
    return bool(sp) and _set_amount(doc, ctx, round(sp[3] / (1 + ctx["prof"].vat), 2))


def h_amount_tax(doc, ctx, rng):
    sp = hard_split_amount(doc["amount"]) if doc["amount"] else None
    return bool(sp) and _set_amount(doc, ctx, round(sp[3] - sp[3] / (1 + ctx["prof"].vat), 2))


def h_amount_digit(doc, ctx, rng):
    sp = hard_split_amount(doc["amount"]) if doc["amount"] else None
    if not sp:
        return False
    before, num, after = sp[0], sp[1], sp[2]
    subs = [i for i, c in enumerate(num) if c in OCR_DIGIT]
    swaps = [i for i in range(len(num) - 1) if num[i].isdigit() and num[i + 1].isdigit() and num[i] != num[i + 1]
             and not (i == 0 and num[1] == "0")]
    if rng.random() < 0.6 or not swaps:
        i = rng.choice(subs)
        rep = rng.choice(OCR_DIGIT[num[i]])
        if i == 0 and rep == "0":
            rep = OCR_DIGIT[num[i]][0] if OCR_DIGIT[num[i]][0] != "0" else "8"
        new = num[:i] + rep + num[i + 1:]
    else:
        i = rng.choice(swaps)
        new = num[:i] + num[i + 1] + num[i] + num[i + 2:]
    if new == num:
        return False
    doc["amount"] = before + new + after
    return True


def h_amount_decimal(doc, ctx, rng):
    sp = hard_split_amount(doc["amount"]) if doc["amount"] else None
    if not sp or not sp[4]:
        return False
    before, num, after = sp[0], sp[1], sp[2]
    i = num.rfind(sp[4])
    doc["amount"] = before + num[:i] + num[i + 1:] + after  # 1.234,50 -> 1.23450 ; 234.50 -> 23450
    return True


def h_amount_sign(doc, ctx, rng):
    sp = hard_split_amount(doc["amount"]) if doc["amount"] else None
    if not sp:
        return False
    before, num, after = sp[0], sp[1], sp[2]
    how = weighted(rng, [("trail", 40), ("paren", 25), ("lead", 20), ("cr", 15)])
    if how == "cr":
        doc["amount"] = before + num + after + " CR"
    else:
        doc["amount"] = before + {"trail": num + "-", "paren": f"({num})", "lead": "-" + num}[how] + after
    return True


def h_currency_wrong(doc, ctx, rng):
    cur = ctx["row"]["currency"]
    if cur == BUYER_CURRENCY:
        return False
    if cur in ("CAD", "AUD"):  # a bare '$' on the PDF, read as US dollars
        doc["amount"] = re.sub(r"C\$|CA\$|A\$|AU\$|CAD|AUD", "$", doc["amount"])
        doc["currency"] = "USD" if rng.random() < 0.6 else "$"
    else:                      # the extractor's default: the buyer's home currency
        doc["currency"] = BUYER_CURRENCY if rng.random() < 0.7 else "$"
    return True


def h_fields_missing(doc, ctx, rng):
    fields = [f for f in ("vendor_name", "invoice_number", "invoice_date", "amount", "currency", "po_number")
              if doc[f]]
    if len(fields) < 4:
        return False
    for _ in range(50):
        n = 2 if rng.random() < 0.65 else 3
        gone = rng.sample(fields, n)
        left = [f for f in fields if f not in gone]
        core = [f for f in left if f in ("vendor_name", "invoice_number", "invoice_date", "amount")]
        # a careful human can still match: an identifier or amount survives, and two core fields
        if ("invoice_number" in left or "amount" in left) and len(core) >= 2:
            for f in gone:
                doc[f] = ""
            return True
    return False


def h_field_shift(doc, ctx, rng):
    variants = []
    if doc["invoice_date"] and doc["invoice_number"]:
        variants.append(("date_in_inv", 35))
    if doc["po_number"] and doc["invoice_number"] and doc["po_number"] != doc["invoice_number"]:
        variants.append(("swap_inv_po", 25))
    if doc["invoice_number"]:
        variants.append(("inv_in_po", 20))
    if doc["amount"]:
        variants.append(("amount_in_currency", 20))
    if not variants:
        return False
    how = weighted(rng, variants)
    if how == "date_in_inv":
        doc["invoice_number"] = doc["invoice_date"]
    elif how == "swap_inv_po":
        doc["invoice_number"], doc["po_number"] = doc["po_number"], doc["invoice_number"]
    elif how == "inv_in_po":
        doc["po_number"], doc["invoice_number"] = doc["invoice_number"], ""
    else:
        doc["currency"], doc["amount"] = doc["amount"], ""
    return True


def _mojibake(s: str) -> str:
    out = []
    for b in s.encode("utf-8"):
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(b))  # bytes cp1252 leaves undefined come through as C1 controls
    return "".join(out)


MOJIBAKE_FIELDS = ("vendor_name", "invoice_number", "amount", "currency", "po_number")


def h_mojibake(doc, ctx, rng):
    hit = [f for f in MOJIBAKE_FIELDS if any(ord(c) > 127 for c in doc[f])]
    if not hit:
        return False
    r = rng.random()
    for f in hit:
        if r < 0.75:   # UTF-8 bytes read as Windows-1252: MÃ¼ller, â‚¬
            doc[f] = _mojibake(doc[f])
        else:          # a lossy 7-bit / failed decode: M?ller or M\ufffdller
            rep = "?" if r < 0.88 else "\ufffd"
            doc[f] = "".join(c if ord(c) < 128 else rep for c in doc[f])
    return True


def h_unicode_form(doc, ctx, rng):
    name, inv, amount = doc["vendor_name"], doc["invoice_number"], doc["amount"]
    variants = []
    if " " in name or " " in amount:
        variants.append(("nbsp", 30))
    if inv:
        variants.append(("fullwidth", 20))
    if any(a in name for a, _ in LIGATURES):
        variants.append(("ligature", 25))
    if re.search(r"[A-Za-z]{6,}", name) or len(inv) >= 4:
        variants.append(("invisible", 25))
    if not variants:
        return False
    how = weighted(rng, variants)
    if how == "nbsp":      # PDF text layer: no-break / narrow no-break spaces
        doc["vendor_name"] = name.replace(" ", "\u00a0")
        doc["amount"] = amount.replace(" ", "\u202f" if ctx["v"].amount_style == "fr" else "\u00a0")
    elif how == "fullwidth":  # OCR engine in a CJK locale / full-width PDF font
        doc["invoice_number"] = "".join(FULLWIDTH.get(c, c) for c in inv)
        if rng.random() < 0.4:
            doc["amount"] = "".join(FULLWIDTH.get(c, c) if c.isdigit() else c for c in amount)
    elif how == "ligature":  # typographic ligatures copied out of the PDF
        for a, b in LIGATURES:
            name = name.replace(a, b)
        doc["vendor_name"] = name
    else:                  # soft hyphen in a long word of the name, or a zero-width space in the number
        m = re.search(r"[A-Za-z]{6,}", name)
        if m and (len(inv) < 4 or rng.random() < 0.5):
            i = rng.randint(m.start() + 2, m.end() - 2)
            doc["vendor_name"] = name[:i] + "\u00ad" + name[i:]
        else:
            i = rng.randint(1, len(inv) - 1)
            doc["invoice_number"] = inv[:i] + "\u200b" + inv[i:]
    return True


HARD_APPLY = {
    "hard.name_address": h_name_address, "hard.name_trade": h_name_trade, "hard.name_truncated": h_name_truncated,
    "hard.name_remit": h_name_remit, "hard.name_buyer": h_name_buyer,
    "hard.inv_other_ref": h_inv_other_ref, "hard.inv_truncated": h_inv_truncated,
    "hard.inv_suffix": h_inv_suffix, "hard.inv_spaces": h_inv_spaces,
    "hard.date_due": h_date_due, "hard.date_service": h_date_service, "hard.date_ocr_year": h_date_ocr_year,
    "hard.date_dm_swap": h_date_dm_swap,
    "hard.amount_net": h_amount_net, "hard.amount_tax": h_amount_tax, "hard.amount_digit": h_amount_digit,
    "hard.amount_decimal": h_amount_decimal, "hard.amount_sign": h_amount_sign,
    "hard.currency_wrong": h_currency_wrong, "hard.fields_missing": h_fields_missing,
    "hard.field_shift": h_field_shift, "hard.mojibake": h_mojibake, "hard.unicode_form": h_unicode_form,
}
assert list(HARD_APPLY) == list(HARD_KINDS)
HARD_FIELDS = ("vendor_name", "invoice_number", "invoice_date", "amount", "currency", "po_number")


class HardNoiser:
    """Adds the hard kinds to a finished document. Its RNG stream is its own: with rate 0 nothing
    is drawn from the shared generator's streams that the shared generator would not draw."""

    def __init__(self, seed: int, rate: float = 1.0, only: list | None = None):
        self.seed = seed
        self.rate = rate
        self.only = only
        self.rng = random.Random(f"invoices-docs-{seed}-hard")
        self.profiles: dict = {}

    def _probe(self, kind: str, doc: dict, ctx: dict) -> bool:
        return HARD_APPLY[kind](dict(doc), ctx, random.Random(0))

    def apply(self, doc: dict, row: dict, applied: list):
        if self.rate <= 0:
            return
        rng = self.rng
        v = row["vendor"]
        prof = self.profiles.get(v.vid)
        if prof is None:
            prof = self.profiles[v.vid] = HardProfile(v, self.seed)
        ctx = dict(v=v, row=row, prof=prof)
        fields = {f: doc[f] for f in HARD_FIELDS}
        if self.only is not None:
            p = min(1.0, ONLY_RATE * self.rate)
            chosen = [k for k in HARD_KINDS if k in self.only and rng.random() < p]
        else:
            lam = HARD_TOTAL * self.rate
            p_any = min(1.0, lam * 8 / 9)
            p_two = lam / 9 if lam * 8 / 9 <= 1 else min(1.0, lam - 1)
            u = rng.random()
            k = 0 if u >= p_any else (2 if u < p_two else 1)
            chosen = []
            cands = list(HARD_KINDS)
            while len(chosen) < k and cands:
                if k == 2:
                    used = {HARD_KINDS[c][0] for c in chosen}
                    cands = [c for c in cands if HARD_KINDS[c][0] not in used and HARD_KINDS[c][0] != "layout"]
                    if not cands:
                        break
                kind = weighted(rng, [(c, HARD_KINDS[c][1]) for c in cands])
                cands = [c for c in cands if c != kind]
                if self._probe(kind, fields, ctx):
                    chosen.append(kind)
            chosen = [c for c in HARD_KINDS if c in chosen]  # apply in the canonical order (encoding last)
        for kind in chosen:
            if HARD_APPLY[kind](fields, ctx, rng):
                applied.append(kind)
        doc.update(fields)


# ---------------------------------------------------------------------------
# main generation
# ---------------------------------------------------------------------------
def generate(n_docs: int, n_refs: int, seed: int, hard_rate: float = 1.0, only: list | None = None):
    rng = random.Random(f"invoices-ledger-{seed}")
    unmatched_frac = rng.uniform(0.10, 0.15)
    n_unmatched = int(round(n_docs * unmatched_frac))
    n_unmatched_known = int(round(n_unmatched * 0.6))
    n_unmatched_unknown = n_unmatched - n_unmatched_known

    # ledger vendors
    n_vendors = max(10, n_refs // 8)
    used_names: set = set()
    vendors: list[Vendor] = []
    for i in range(n_vendors):
        vendors.append(make_vendor(rng, i, used_names, vendors, known=True))
    # invoices per vendor: 1 + Zipf-like share (exponent 0.6)
    total_rows = n_refs + n_unmatched_known
    weights = [1.0 / (r + 1) ** 0.6 for r in range(n_vendors)]
    order = list(range(n_vendors))
    rng.shuffle(order)
    counts = [1] * n_vendors
    extra = max(0, total_rows - n_vendors)
    for j in rng.choices(range(n_vendors), weights=weights, k=extra):
        counts[order[j]] += 1
    po_counter = [rng.randint(100000, 900000)]
    rows: list[dict] = []
    for v, k in zip(vendors, counts):
        rows.extend(gen_vendor_rows(rng, v, k, po_counter))
    rows = rows[:total_rows]
    # withhold phantom invoices (documents from known vendors with no ledger row)
    idx = list(range(len(rows)))
    rng.shuffle(idx)
    phantom_idx = sorted(idx[:n_unmatched_known])
    phantom_set = set(phantom_idx)
    phantoms = [rows[i] for i in phantom_idx]
    refs = [rows[i] for i in range(len(rows)) if i not in phantom_set]
    rng.shuffle(refs)
    for i, r in enumerate(refs):
        r["ref_id"] = f"R{i + 1:07d}"

    # vendors absent from the ledger (half of them share a stem with a ledger vendor)
    n_unknown_vendors = max(1, (n_unmatched_unknown + 1) // 2)
    unknown_vendors = [make_vendor(rng, n_vendors + i, used_names, [], known=False, family_of=vendors)
                       for i in range(n_unknown_vendors)]
    unknown_rows: list[dict] = []
    for v in unknown_vendors:
        unknown_rows.extend(gen_vendor_rows(rng, v, rng.randint(1, 4), po_counter))
    rng.shuffle(unknown_rows)
    while len(unknown_rows) < n_unmatched_unknown:
        unknown_rows.extend(unknown_rows[: n_unmatched_unknown - len(unknown_rows)])
    unknown_rows = unknown_rows[:n_unmatched_unknown]

    # which ledger rows get a document (1% second scans of the same invoice)
    n_matched = n_docs - n_unmatched
    n_dupes = int(round(n_matched * 0.01))
    n_unique = min(n_matched - n_dupes, len(refs))
    n_dupes = n_matched - n_unique
    chosen = rng.sample(refs, n_unique)
    dupes = [rng.choice(chosen) for _ in range(n_dupes)] if chosen else []

    # documents (a separate RNG stream from the ledger's)
    drng = random.Random(f"invoices-docs-{seed}-public")
    noiser = Noiser(drng)
    hnoiser = HardNoiser(seed, hard_rate, only)  # new: the hard kinds, on their own RNG stream
    plan = ([(r, "matched") for r in chosen] + [(r, "duplicate_scan") for r in dupes]
            + [(r, "unmatched_known_vendor") for r in phantoms]
            + [(r, "unmatched_unknown_vendor") for r in unknown_rows])
    drng.shuffle(plan)
    docs, truth, log = [], [], []
    for n, (row, kind) in enumerate(plan, start=1):
        v = row["vendor"]
        applied: list[str] = []
        name = noiser.vendor_name(v, row, applied)
        inv = noiser.invoice_number(v, row, applied)
        date = noiser.date(v, row, applied)
        amount, cur = noiser.amount_currency(v, row, applied)
        po = noiser.po(v, row, applied)
        doc_id = f"D{n:07d}"
        docs.append(dict(document_id=doc_id, document_filename=filename_for(drng, v, row, inv, n),
                         vendor_name=name, invoice_number=inv, invoice_date=date, amount=amount,
                         currency=cur, po_number=po))
        truth.append(dict(document_id=doc_id, ref_id=row.get("ref_id", "") if kind in ("matched", "duplicate_scan") else ""))
        hnoiser.apply(docs[-1], row, applied)  # new
        log.append(dict(document_id=doc_id, kind=kind, modes=";".join(applied)))
    ref_out = [dict(ref_id=r["ref_id"], vendor_name=r["vendor"].name, vendor_tax_id=r["vendor"].tax_id,
                    invoice_number=r["invoice_number"], invoice_date=r["invoice_date"].isoformat(),
                    amount=f"{r['amount']:.2f}", currency=r["currency"], po_number=r["po_number"])
               for r in sorted(refs, key=lambda r: r["ref_id"])]
    return ref_out, docs, truth, log


def write_csv(path: str, rows: list[dict], fields: list[str], gz: bool):
    if gz:
        path += ".gz"
        f = gzip.open(path, "wt", encoding="utf-8", newline="")
    else:
        f = open(path, "w", encoding="utf-8", newline="")
    with f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, required=True)
    ap.add_argument("--refs", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--gzip", action="store_true", help="write .csv.gz files")
    ap.add_argument("--only", help="apply only these hard kinds (comma-separated, with or without 'hard.'), "
                                   f"each independently at rate {ONLY_RATE} x --hard-rate")
    ap.add_argument("--hard-rate", type=float, default=1.0,
                    help="scale the hard kinds' rates (0: exactly the shared generator's output)")
    a = ap.parse_args(argv)
    only = None
    if a.only:
        only = [k.strip() if k.strip().startswith("hard.") else "hard." + k.strip() for k in a.only.split(",")
                if k.strip()]
        unknown = [k for k in only if k not in HARD_KINDS]
        if unknown:
            ap.error(f"unknown hard kinds {unknown}; known: {', '.join(HARD_KINDS)}")
    if a.hard_rate < 0:
        ap.error("--hard-rate must be >= 0")
    refs, docs, truth, log = generate(a.docs, a.refs, a.seed, a.hard_rate, only)
    os.makedirs(a.out, exist_ok=True)
    paths = [
        write_csv(os.path.join(a.out, "refs.csv"), refs, ["ref_id", "vendor_name", "vendor_tax_id", "invoice_number",
                                                          "invoice_date", "amount", "currency", "po_number"], a.gzip),
        write_csv(os.path.join(a.out, "docs.csv"), docs, ["document_id", "document_filename", "vendor_name",
                                                          "invoice_number", "invoice_date", "amount", "currency",
                                                          "po_number"], a.gzip),
        write_csv(os.path.join(a.out, "truth.csv"), truth, ["document_id", "ref_id"], a.gzip),
        write_csv(os.path.join(a.out, "noise_log.csv"), log, ["document_id", "kind", "modes"], a.gzip),
    ]
    n_unm = sum(1 for t in truth if not t["ref_id"])
    print(f"refs={len(refs)} docs={len(docs)} unmatched_docs={n_unm} ({n_unm / max(1, len(docs)):.1%}) "
          f"seed={a.seed}", file=sys.stderr)
    for p in paths:
        print(p)


if __name__ == "__main__":
    main()
