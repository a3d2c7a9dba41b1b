"""Person names, street addresses and dates of birth: word lists plus context cues (pure)."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import NamedTuple

from workprint.privacy.redact.detectors import namedata
from workprint.privacy.redact.detectors.folding import finditer_folded
from workprint.privacy.redact.types import Context, Span


@cache
def _words(blob: str) -> frozenset[str]:
    return frozenset(w.replace("_", " ") for w in blob.split())


# Capitalised words that are names in the lists but mostly ordinary words at work; they count as a name only next
# to another name part or after a cue.
_COMMON_WORDS = (
    "Will May June April August Grant Bill Mark Rose Art Dean Page Hope Joy Faith Summer Autumn Dawn Guy "
    "Gay Major Long Young King Rich Price Hall Wall Street Field Lane Gate Bank Case Chase Sharp Worth "
    "Love Ball Bell Cook Power Frank Don Pat Sun Mon Tue Wed Thu Fri Sat Jan Feb Mar Apr Jun Jul Aug Sep "
    "Oct Nov Dec Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March July "
    "September October November December The This That These Those Then There Here When What Where Which "
    "While With Will Would Please Thanks Thank Hello Dear Best Kind Regards Team All Add Fix Update Merge "
    "Release Build Test Run New Old Open Close Save File Edit View Help Home Main Master Data Cloud "
    "Office Login Sign Password User Admin Server Client Total Re Fwd Subject Date From To Cc Via Le La "
    "El Los Las Der Die Das Von Van De Del Di Da Du "
)
_CUE_WORDS = "Dear Hi Hey Hello Hallo Bonjour Hola Ciao Thanks Cheers Regards Best Sincerely Attn Contact Name Signed"
_CUE_WORDS += " Owner Assignee Reviewer Author Customer Patient Employee Candidate Meeting Assigned Call Ask Ping Tell"
_COMMON_WORDS += " North South East West Port New Lake Mount Fort Saint San Santa"  # place-name starts
_CUE_WORDS += " Mr Mrs Ms Miss Mx Dr Prof Herr Frau Mme Mlle Sr Sra Srta Sig Dott Ing"  # titles cue the name after
_COMMON = frozenset(_COMMON_WORDS.split()) | frozenset(_CUE_WORDS.split())
_UP, _LO = "A-ZÀ-ÖØ-Þ", "a-zà-öø-ÿß"
# Smith, O'Sullivan, Duffy-O'Sullivan, Müller-Lüdenscheidt (at least two letters, so "I" is never a name)
_PART = rf"[{_UP}](?:[{_LO}]+(?:['’][{_UP}]?[{_LO}]+)*|['’][{_UP}]?[{_LO}]+)"
_NAME_TOKEN = rf"{_PART}(?:-{_PART})?"
_PARTICLE = r"(?:(?:van|von|de|der|den|del|della|di|da|du|dos|das|le|la|y|ter|zu|St\.|Le|La|De|Van|Von|Di|Da)\s+)"
_SEQ = re.compile(rf"{_NAME_TOKEN}(?:\s+{_PARTICLE}*{_NAME_TOKEN}){{0,3}}")
_TOKEN_RE = re.compile(_NAME_TOKEN)
_HYPHEN_PARTS = re.compile(_PART)  # "Solsona-Cueto" -> "Solsona", "Cueto"
_TITLE = (
    r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Frau|Mme|Mlle|M|Sr|Sra|Srta|Sig|Sig\.ra|Dott|Ing|Dipl\.-Ing|Dipl\.-Kfm|"
    r"Univ\.Prof|Univ\.-Prof|Prof\. Dr|Dr\. med|B\.Sc|M\.Sc|MBA)\.?"
)
_TITLE_BEFORE = re.compile(rf"(?<![\w.-]){_TITLE}\s+$")
_TITLE_ANYWHERE = re.compile(rf"{_TITLE}\s")  # found wherever _TITLE_BEFORE can be
# A cue word or a title, then space, ending where the name starts; or an "@" (the lookbehind first lets ``re`` skip
# ahead to a possible first letter).
_CUE = re.compile(
    rf"(?<!\w)(?:(?:Dear|Hi|Hey|Hello|Hallo|Bonjour|Hola|Ciao|Thanks|Thank you|Cheers|Regards|Best|Sincerely|cc|CC|Cc|"
    rf"From|To|Attn|Contact|Name|Signed|Owner|Assignee|Reviewer|Author|Customer|Patient|Employee|Candidate)"
    rf"[,:]?|{_TITLE})\s+$|@$"
)
_COMPANY = re.compile(
    r"[ \t,](?:KGaA|KG|GmbH|AG|OHG|GbR|e\.[ ]?V\.|e\.G\.|SA|S\.A\.|SARL|S\.A\.R\.L|SAS|S\.A\.S\.|Ltd|LLC|Inc|PLC|plc|"
    r"LLP|Group|Groupe|& Co|and Sons|und Söhne|S\.p\.A\.|SpA|S\.r\.l\.|S\.L\.|S\.L|S\.Coop|S\.C\.P|S\.L\.L|"
    r"S\.Com|S\.A\.U|Partners|Associates|et Fils|e Figli|Hermanos|Holding|Consulting)(?![\w])"
)
_SUFFIX = re.compile(
    r",?[ \t]+(?:(?:Jr|Sr|II|III|IV|MD|PhD|DDS|DVM|MBA|B\.Sc|B\.A|B\.Eng|M\.Sc|M\.A|M\.Eng|LL\.M|Dipl\.-\w+)"
    r"(?![\w-])\.?)+"
)


def _first() -> frozenset[str]:
    return _words(namedata.FIRST_NAMES)


def _last() -> frozenset[str]:
    return _words(namedata.SURNAMES)


@cache
def _listed_words() -> frozenset[str]:
    return _first() | _last()


def _listed(word: str, listed: frozenset[str]) -> bool:
    """A listed first name or surname, or a double-barrelled one with a listed part."""
    return word in listed or ("-" in word and not listed.isdisjoint(word.split("-")))


def _cued_first(text: str, at: int, word: str, first: frozenset[str]) -> bool:
    return word in first and word not in _CUE_WORDS and bool(_CUE.search(text, max(0, at - 24), at))


def _with_surname(toks: list[tuple[int, int, str]], first: frozenset[str], last: frozenset[str]) -> bool:
    # "Will Smith", "Mark Johnson": an ordinary-looking first name is a name when a listed surname follows.
    return (
        len(toks) > 1
        and toks[0][2] in first
        and toks[0][2] not in _CUE_WORDS
        and toks[1][2] in last
        and toks[1][2] not in _COMMON
    )


def names(text: str, ctx: Context) -> list[Span]:
    """Person names: runs of capitalised words holding a listed first name or surname, or following a cue."""
    found: list[Span] = []
    first, last = _first(), _last()
    listed = _listed_words()
    titled: bool | None = None
    for m in _SEQ.finditer(text):
        run = m.group()
        toks = [(t.start(), t.end(), t.group()) for t in _TOKEN_RE.finditer(run)]
        if listed.isdisjoint(w for _, _, w in toks) and (
            "-" not in run or listed.isdisjoint(_HYPHEN_PARTS.findall(run))
        ):
            # With no listed word only a title makes a name ("Dr Zorbl"); most runs ("Slack", "Re") end here.
            if titled is None:
                titled = _TITLE_ANYWHERE.search(text) is not None
            if not titled:
                continue
        # "Dear", "Thanks": cues and ordinary words are not the name, unless a cue makes them one ("Hi Guy,")
        while (
            toks
            and toks[0][2] in _COMMON
            and not _cued_first(text, m.start() + toks[0][0], toks[0][2], first)
            and not _with_surname(toks, first, last)
        ):
            toks.pop(0)
        if not toks:
            continue
        off = toks[0][0]
        base = m.start() + off
        toks = [(a - off, b - off, w) for a, b, w in toks]
        title = _TITLE_BEFORE.search(text[max(0, base - 16) : base])
        known = [_listed(w, listed) for _, _, w in toks]
        if not title and not any(known):
            continue  # the same rule after dropping leading cue words, now with the title right before the name
        cue = bool(_CUE.search(text, max(0, base - 24), base))
        strong = [k and w not in _COMMON for k, (_, _, w) in zip(known, toks, strict=True)]
        pair = len(toks) >= 2 and (toks[0][2] in first or cue) and (known[1] or strong[0])
        hit = pair or (len(toks) >= 2 and sum(strong) >= 2) or (cue and (known[0] or bool(title)))
        hit = hit and (
            toks[0][2] not in _COMMON or _cued_first(text, base, toks[0][2], first) or _with_surname(toks, first, last)
        )
        if not hit:
            continue
        # Keep the run only through its last name-like word (drops "John Smith Said"-style trailing words).
        last_i = max((i for i, k in enumerate(known) if k), default=0)
        if len(toks) > 1 and last_i == 0:
            last_i = 1 if (cue or toks[0][2] in first) and toks[1][2] not in _COMMON else 0
        start = base - len(title.group()) if title else base
        end = base + toks[last_i][1]
        if _COMPANY.search(text, base, min(len(text), m.end() + 24)):
            continue  # "Gillet Devaux SA", "Morgan Ltd": a firm named after people, not a person
        suf = _SUFFIX.match(text, end)
        if suf:
            end = suf.end()
        found.append(Span(start, end, "NAME"))
    return found


class _AddressRules(NamedTuple):
    """The address shapes, each with the words it cannot match without (checked first: most text has none)."""

    by_suffix: re.Pattern[str]  # needs a street suffix or a unit word ("Flat")
    suffixes: frozenset[str]  # case-folded, like every word set here: they are checked against folded text
    by_street_word: tuple[re.Pattern[str], ...]  # need a street word ("rue", "Via")
    street_words: frozenset[str]
    german: re.Pattern[str]  # needs "straße", "weg"...
    military: re.Pattern[str]  # needs "PO A" (APO, FPO, DPO)


# Runs of letters: a street word or suffix in an address is always one of them.
_LETTERS = re.compile(r"[^\W\d_]+")
_UNIT_LEAD = "Flat Studio Apartment Unit Suite"
_GERMAN_STREET = re.compile(r"strasse|str\.|gasse|weg|allee|platz|ring|damm|ufer|steig|pfad|chaussee")  # folded text


@cache
def _address_rules() -> _AddressRules:
    extra_suffixes = "St Ave Rd Blvd Dr Ln Ct Pl Sq Pkwy Hwy Ter Way"
    extra_prefixes = "rue avenue boulevard chemin allée impasse place quai route Via Viale Piazza Corso Largo Calle Rua"
    suffixes = sorted(_words(namedata.STREET_SUFFIXES) | _words(extra_suffixes), key=len, reverse=True)
    prefixes = sorted(_words(namedata.STREET_PREFIXES) | _words(extra_prefixes), key=len, reverse=True)
    suf = "|".join(re.escape(s) for s in suffixes)
    # Italian and Spanish street words come first ("Via Roma, 3") although Faker files some under suffixes.
    it = "Piazza|Strada|Via|Borgo|Contrada|Rotonda|Incrocio|Viale|Stretto|Vicolo|Canale|Calle|Avenida|Paseo|Camino"
    pre = "|".join(re.escape(p) for p in prefixes)
    word = r"[A-ZÀ-Þ0-9][\w'’.-]*"
    unit = (
        r"(?:,?[ \t]*(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Piso|Piano|Puerta|Appartamento|Interno|Scala|"
        r"Bldg\.?|Floor|Etage|Étage|#)[ \t]*[\w-]+[ \t]*)"
    )
    city_core = (
        r"(?:,?[ \t]*\n?[ \t]*(?:(?:\d{4,5}[ \t]+)?[A-ZÀ-Þ][\w'’. -]{1,40}?,?[ \t]+"
        r"(?:[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?|\d{4,5}|\([A-Z]{2}\)|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}))"
        r"|,?[ \t]*\n?[ \t]*\d{4,5}[ \t]+[A-ZÀ-Þ][\w'’. -]{1,40}"
        r"|,?[ \t]*\n?[ \t]*\d{5},?[ \t]+[A-ZÀ-Þ][\w'’. -]{1,40}(?:\([A-Z]{2}\))?"
        r"|(?:\n[A-ZÀ-Þ][\w'’ .-]{1,40})?\n[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})"
    )
    city_line = city_core + "?"
    lead = (
        r"(?:(?:Flat|Studio|Apartment|Unit|Suite)[ \t]+\d{1,5}[A-Za-z]?,?[ \t]*\n?[ \t]*(?:\d{1,6}[ \t]+)?"
        r"|\d{1,6}[A-Za-z]?[ \t]+)"
    )
    compass = r"(?:[ \t]+(?:[NS][EW]?|[EW])\b\.?)?"
    number = r",?[ \t]*\d{1,5}[a-zA-Z]?(?:[-/]\d{1,4})?"
    particle = r"(?:(?:de|del|de la|des|du|dos|da|di|della|de los|de las)[ \t]+)?"
    by_street_word = (
        # 32, rue Vallet / 66, boulevard Colette Bouvier
        re.compile(
            rf"(?<![\w.])\d{{1,5}}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?:{pre})[ \t]+{particle}(?:{word}[ \t]+){{0,3}}"
            rf"{word}{unit}?{city_line}"
        ),
        # Avenida Laura Arregui 6 Apt. 77 / Via Pometta, 3 / Rotonda Giacobbe, 9 Piano 6
        re.compile(rf"(?<![\w.])(?:{pre}|{it})[ \t]+{particle}(?:{word}[ \t]+){{0,3}}{word}{number}{unit}?{city_line}"),
        # rue Charpentier\n25352 Collin: no house number, so the postcode line is required
        re.compile(
            rf"(?<![\w.])(?:{pre}|{it})[ \t]+{particle}(?:{word}[ \t]+){{0,3}}{word}(?:{number})?{unit}?{city_core}"
        ),
    )
    return _AddressRules(
        # 123 North Main Street Apt. 4, Springfield, IL 62704 / Flat 5\nLaura Estate\nEast Jasmine\nPE68 4BJ
        re.compile(rf"(?<![\w.]){lead}(?:{word}[ \t]+){{0,4}}(?i:{suf})\b\.?{compass}{unit}?{city_line}"),
        frozenset(w for s in [*suffixes, *_UNIT_LEAD.split()] for w in _LETTERS.findall(s.casefold())),
        by_street_word,
        frozenset(w for s in [*prefixes, *it.split("|")] for w in _LETTERS.findall(s.casefold())[:1]),
        # Löfflerstr. 62-36 / Ehrhard-Metz-Gasse 86 / Am Markt 3, 31392 Wetzlar
        re.compile(
            rf"(?<![\w.])[A-ZÄÖÜ][\w.-]*(?:straße|strasse|str\.|gasse|weg|allee|platz|ring|damm|ufer|steig|"
            rf"pfad|chaussee|Straße|Gasse|Weg|Allee|Platz|Ring)(?:[ \t]+\d{{1,4}}[a-z]?(?:[-/]\d{{1,4}})?)"
            rf"{city_line}"
        ),
        # PSC 1695, Box 8194\nAPO AP 92955 / USNS Smith\nFPO AE 12345 / Unit 1234 Box 5678\nDPO AA 12345
        re.compile(
            r"(?:PSC \d{4}, Box \d{4}|(?:USNS|USNV|USS|USCGC) [A-Z]\w+|Unit \d{4} Box \d{4}),?\s*\n?\s*"
            r"[AFD]PO A[AEP] \d{5}"
        ),
    )


def addresses(text: str, ctx: Context) -> list[Span]:
    """Street addresses (US/UK/DE/FR/ES/IT shapes), extended over a following city/postcode line."""
    found: list[Span] = []
    rules = _address_rules()
    folded = text.casefold()  # a necessary check only: no offsets are taken from it
    words = set(_LETTERS.findall(folded))
    shapes: list[re.Pattern[str]] = []
    if not rules.suffixes.isdisjoint(words):
        shapes.append(rules.by_suffix)
    if not rules.street_words.isdisjoint(words):
        shapes.extend(rules.by_street_word)
    if _GERMAN_STREET.search(folded):
        shapes.append(rules.german)
    if "PO A" in text:
        shapes.append(rules.military)
    for rx in shapes:
        for m in rx.finditer(text):
            found.append(Span(m.start(), m.end() - (len(m.group()) - len(m.group().rstrip())), "ADDRESS"))
    return found


_DATE = (
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})"
    r"|(?:\d{1,2}(?:st|nd|rd|th)?\.?\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|janv|févr|mars|avr|"
    r"mai|juin|juil|août|sept|oct|nov|déc|enero|feb|marzo|abril|mayo|junio|julio|agosto|sept|oct|nov|dic)[a-zéû]*\.?"
    r"(?:\s+\d{1,2}(?:st|nd|rd|th)?)?,?\s+\d{4})"
)
# Lower case: matched against folded text (see folding.py).
_DOB = re.compile(
    rf"(?=[dbgnf])(?:\bd\.?o\.?b\.?|date of birth|birth ?date|birthday|born(?: on)?|geburtsdatum|geboren(?: am)?|"
    rf"né(?:e)? le|date de naissance|fecha de nacimiento|nacid[oa] el|data di nascita)\b[\s:=,-]*(?:is\s+|on\s+)?"
    rf"({_DATE})"
)


_BIRTH_CUE = re.compile(r"(?i)birth|dob|geburt|naissance|nacimiento")
_DATE_ALONE = re.compile(rf"^\s*({_DATE})\s*$")


@lru_cache(maxsize=1024)
def _birth_window(title: str) -> bool:
    return _BIRTH_CUE.search(title) is not None


def dates_of_birth(text: str, ctx: Context) -> list[Span]:
    """Dates after a birth cue ("DOB:", "born on", "Geburtsdatum") or in a window about birth dates."""
    found: list[Span] = []
    for m in finditer_folded(_DOB, text):
        found.append(Span(m.start(1), m.end(1), "DATE_OF_BIRTH"))
    if _birth_window(ctx.title) or _BIRTH_CUE.search(ctx.previous_field):
        for m in finditer_folded(_DATE_ALONE, text):
            found.append(Span(m.start(1), m.end(1), "DATE_OF_BIRTH"))
    return found


_FORM = re.compile(
    r"(?i)account|contact|regist|profile|checkout|shipping|billing|sign ?up|form|details|address|personal|"
    r"customer|patient|applica|onboard|kontakt|anmeldung|inscri|coordonn|datos|dati"
)
_PHONE_FIELD = re.compile(r"^\+?[\d][\d \t().\-/]{5,20}\d(?:[ \t]?(?:x|ext\.?)[ \t]?\d{1,6})?$")


def form_context(ctx: Context) -> bool:
    """True when the window is a form asking for personal details (sign-up, checkout, profile...)."""
    return _form_window(ctx.app, ctx.title)


@lru_cache(maxsize=1024)
def _form_window(app: str, title: str) -> bool:
    return bool(_FORM.search(title) or _FORM.search(app))


def phone_field(field: str) -> bool:
    """A whole form field holding 7-15 digits written like a phone number."""
    value = field.strip()
    return bool(_PHONE_FIELD.match(value)) and 7 <= sum(c.isdigit() for c in value) <= 15


def name_field(field: str) -> bool:
    """A whole form field of one to four capitalised words, one of them a listed first name or surname."""
    words = field.split()
    if not 1 <= len(words) <= 4 or not all(_TOKEN_RE.fullmatch(w) for w in words):
        return False
    first, last = _first(), _last()
    return any((w in first or w in last) and w not in _CUE_WORDS for w in words)
