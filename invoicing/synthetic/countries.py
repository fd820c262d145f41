"""Synthetic subscribers' data for the countries added with the invoice's languages.

Arabic (SA), Hebrew (IL), Hindi (IN), Bengali (BD), Thai (TH) and Tamil (LK) exercise
shaped, right-to-left and Indic text; Spain, Italy, the Netherlands, Portugal, Sweden
and Türkiye the Latin-script catalogs. Names and addresses are in the country's own
script and postal order; a name written "native:roman" gives the roman form for e-mail
addresses. The package (`__init__`) merges these tables into its own (same tuple layout as its
_COUNTRY_DATA: locale, currency, tax, weight, male, female, surnames, transliteration
table, company templates, home name, EU member).

Standard library only, like the rest of the package.
"""

from __future__ import annotations

import random

__all__ = ["ADDRESS", "COUNTRY_DATA", "FEES", "RATES"]

# Monthly fee per tier (basic, plus, max), and a rough EUR rate for usage prices.
FEES = {
    "SAR": ("39.00", "79.00", "149.00"),
    "ILS": ("39.90", "69.90", "129.90"),
    "INR": ("299.00", "499.00", "999.00"),
    "BDT": ("499.00", "899.00", "1499.00"),
    "THB": ("299.00", "599.00", "999.00"),
    "LKR": ("1990.00", "3490.00", "5990.00"),
    "SEK": ("199.00", "349.00", "499.00"),
    "TRY": ("299.00", "499.00", "899.00"),
}
RATES = {
    "SAR": "4.1",
    "ILS": "4.0",
    "INR": "90",
    "BDT": "120",
    "THB": "38",
    "LKR": "330",
    "SEK": "11.5",
    "TRY": "35",
}


def _n(rng: random.Random, lo: int, hi: int) -> int:
    return rng.randint(lo, hi)


_BENGALI_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")

# --------------------------------------------------------------------- addresses

_SA_STREETS = ("طريق الملك فهد", "شارع العليا", "طريق الملك عبدالعزيز", "شارع التحلية", "طريق الأمير سلطان")
_SA_PLACES = (
    ("الرياض", ("حي العليا", "حي الملز", "حي النخيل", "حي الروضة"), 11564, 12999),
    ("جدة", ("حي الروضة", "حي الحمراء", "حي الصفا"), 21411, 23999),
    ("الدمام", ("حي الشاطئ", "حي الفيصلية"), 31411, 32999),
)


def _addr_sa(rng: random.Random) -> list[str]:
    city, districts, lo, hi = rng.choice(_SA_PLACES)
    return [
        f"{_n(rng, 1000, 9999)} {rng.choice(_SA_STREETS)}",
        rng.choice(districts),
        f"{city} {_n(rng, lo, hi)}",
    ]


_IL_STREETS = ("רחוב הרצל", "רחוב בן יהודה", "שדרות רוטשילד", "רחוב ויצמן", "רחוב ז׳בוטינסקי", "דרך בגין")
_IL_CITIES = (("תל אביב", 6100000, 6999999), ("ירושלים", 9100000, 9799999), ("חיפה", 3100000, 3599999))


def _addr_il(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_IL_CITIES)
    lines = [f"{rng.choice(_IL_STREETS)} {_n(rng, 1, 180)}"]
    if rng.random() < 0.4:
        lines.append(f"דירה {_n(rng, 1, 40)}")
    return [*lines, f"{city} {_n(rng, lo, hi)}"]


_IN_STREETS = ("महात्मा गांधी मार्ग", "नेहरू मार्ग", "स्टेशन रोड", "राजपथ", "सरदार पटेल मार्ग")
_IN_PLACES = (
    ("नई दिल्ली", ("लाजपत नगर", "करोल बाग", "द्वारका"), 110001, 110096),
    ("जयपुर", ("मालवीय नगर", "वैशाली नगर"), 302001, 302039),
    ("लखनऊ", ("हज़रतगंज", "गोमती नगर"), 226001, 226030),
)


def _addr_in(rng: random.Random) -> list[str]:
    city, areas, lo, hi = rng.choice(_IN_PLACES)
    return [f"{_n(rng, 1, 250)}, {rng.choice(_IN_STREETS)}", rng.choice(areas), f"{city} {_n(rng, lo, hi)}"]


_BD_AREAS = (("ঢাকা", ("ধানমন্ডি", "গুলশান", "মিরপুর", "উত্তরা")), ("চট্টগ্রাম", ("আগ্রাবাদ", "নাসিরাবাদ")))


def _addr_bd(rng: random.Random) -> list[str]:
    city, areas = rng.choice(_BD_AREAS)
    house = f"বাড়ি {_n(rng, 1, 120)}, রোড {_n(rng, 1, 30)}".translate(_BENGALI_DIGITS)
    return [house, rng.choice(areas), f"{city} {_n(rng, 1000, 1399)}".translate(_BENGALI_DIGITS)]


_TH_STREETS = ("ถนนสุขุมวิท", "ถนนสีลม", "ถนนพระราม 4", "ถนนเพชรบุรี", "ถนนรัชดาภิเษก")
_TH_AREAS = (
    ("กรุงเทพมหานคร", ("แขวงคลองเตย เขตคลองเตย", "แขวงสีลม เขตบางรัก", "แขวงลุมพินี เขตปทุมวัน"), 10110),
    ("เชียงใหม่", ("ตำบลช้างคลาน อำเภอเมือง", "ตำบลสุเทพ อำเภอเมือง"), 50100),
)


def _addr_th(rng: random.Random) -> list[str]:
    city, areas, code = rng.choice(_TH_AREAS)
    return [
        f"{_n(rng, 1, 999)}/{_n(rng, 1, 99)} {rng.choice(_TH_STREETS)}",
        rng.choice(areas),
        f"{city} {code}",
    ]


_LK_STREETS = ("கஸ்தூரியார் வீதி", "காங்கேசன்துறை வீதி", "ஆஸ்பத்திரி வீதி", "காலி வீதி")
_LK_CITIES = (("யாழ்ப்பாணம்", 40000), ("கொழும்பு", 600), ("மட்டக்களப்பு", 30000), ("திருகோணமலை", 31000))


def _addr_lk(rng: random.Random) -> list[str]:
    city, code = rng.choice(_LK_CITIES)
    return [f"{_n(rng, 1, 300)} {rng.choice(_LK_STREETS)}", f"{city} {code:05d}"]


_ES_STREETS = ("Calle Mayor", "Calle de Alcalá", "Gran Vía", "Paseo de Gràcia", "Avenida de la Constitución")
_ES_CITIES = (
    ("Madrid", 28001, 28055),
    ("Barcelona", 8001, 8042),
    ("Sevilla", 41001, 41020),
    ("Valencia", 46001, 46026),
)


def _addr_es(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_ES_CITIES)
    flat = f", {_n(rng, 1, 8)}.º {rng.choice('ABCD')}" if rng.random() < 0.6 else ""
    return [f"{rng.choice(_ES_STREETS)} {_n(rng, 1, 200)}{flat}", f"{_n(rng, lo, hi):05d} {city}"]


_IT_STREETS = ("Via Roma", "Corso Vittorio Emanuele II", "Via Garibaldi", "Via Dante", "Piazza della Libertà")
_IT_CITIES = (("Roma", "RM", 118, 199), ("Milano", "MI", 20121, 20162), ("Napoli", "NA", 80121, 80147))


def _addr_it(rng: random.Random) -> list[str]:
    city, province, lo, hi = rng.choice(_IT_CITIES)
    return [f"{rng.choice(_IT_STREETS)} {_n(rng, 1, 180)}", f"{_n(rng, lo, hi):05d} {city} {province}"]


_NL_STREETS = ("Kerkstraat", "Dorpsstraat", "Stationsweg", "Prinsengracht", "Molenweg")
_NL_CITIES = (
    ("Amsterdam", 1011, 1109),
    ("Rotterdam", 3011, 3089),
    ("Utrecht", 3511, 3585),
    ("Den Haag", 2511, 2597),
)


def _addr_nl(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_NL_CITIES)
    letters = rng.choice("ABCDEGHJKLMNPRSTVWXZ") + rng.choice("ABCDEGHJKLMNPRSTVWXZ")
    return [f"{rng.choice(_NL_STREETS)} {_n(rng, 1, 250)}", f"{_n(rng, lo, hi)} {letters} {city}"]


_PT_STREETS = (
    "Rua Augusta",
    "Avenida da Liberdade",
    "Rua de Santa Catarina",
    "Rua do Ouro",
    "Avenida dos Aliados",
)
_PT_CITIES = (("Lisboa", 1000, 1999), ("Porto", 4000, 4399), ("Coimbra", 3000, 3049))


def _addr_pt(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_PT_CITIES)
    floor = f", {_n(rng, 1, 9)}.º {rng.choice(('Esq.', 'Dto.'))}" if rng.random() < 0.6 else ""
    return [
        f"{rng.choice(_PT_STREETS)} {_n(rng, 1, 300)}{floor}",
        f"{_n(rng, lo, hi)}-{_n(rng, 1, 999):03d} {city}",
    ]


_SE_STREETS = ("Drottninggatan", "Storgatan", "Kungsgatan", "Vasagatan", "Östra Hamngatan")
_SE_CITIES = (("Stockholm", 11120, 11860), ("Göteborg", 41101, 41879), ("Malmö", 21115, 21775))


def _addr_se(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_SE_CITIES)
    code = _n(rng, lo, hi)
    return [f"{rng.choice(_SE_STREETS)} {_n(rng, 1, 120)}", f"{code // 100} {code % 100:02d} {city}"]


_TR_STREETS = (
    "Atatürk Caddesi",
    "İstiklal Caddesi",
    "Bağdat Caddesi",
    "Cumhuriyet Caddesi",
    "Gazi Mustafa Kemal Bulvarı",
)
_TR_PLACES = (
    ("İstanbul", ("Kadıköy", "Beşiktaş", "Üsküdar"), 34000, 34990),
    ("Ankara", ("Çankaya", "Keçiören"), 6000, 6990),
)


def _addr_tr(rng: random.Random) -> list[str]:
    city, districts, lo, hi = rng.choice(_TR_PLACES)
    return [
        f"{rng.choice(_TR_STREETS)} No: {_n(rng, 1, 200)} Daire: {_n(rng, 1, 30)}",
        f"{_n(rng, lo, hi):05d} {rng.choice(districts)}/{city}",
    ]


ADDRESS = {
    "SA": _addr_sa,
    "IL": _addr_il,
    "IN": _addr_in,
    "BD": _addr_bd,
    "TH": _addr_th,
    "LK": _addr_lk,
    "ES": _addr_es,
    "IT": _addr_it,
    "NL": _addr_nl,
    "PT": _addr_pt,
    "SE": _addr_se,
    "TR": _addr_tr,
}

# ------------------------------------------------------------------------- names

COUNTRY_DATA = {
    # code: (locale, currency, tax, weight, male, female, surnames, translit, companies, home, eu)
    "SA": (
        "ar_SA",
        "SAR",
        "15",
        3,
        "محمد:mohammed أحمد:ahmed عبدالله:abdullah خالد:khalid فهد:fahad سعود:saud عبدالرحمن:abdulrahman "
        "سلطان:sultan فيصل:faisal ناصر:nasser تركي:turki",
        "فاطمة:fatimah نورة:noura سارة:sarah عائشة:aisha مريم:maryam هند:hind ريم:reem لطيفة:latifa "
        "منيرة:munira الجوهرة:aljohara",
        "العتيبي:alotaibi القحطاني:alqahtani الشمري:alshammari الدوسري:aldossari الغامدي:alghamdi "
        "الزهراني:alzahrani المطيري:almutairi الحربي:alharbi العنزي:alanazi السبيعي:alsubaie",
        "",
        ("شركة {a} للتجارة", "مؤسسة {a} التجارية", "مجموعة {a} و{b} القابضة"),
        "Saudi Arabia",
        False,
    ),
    "IL": (
        "he_IL",
        "ILS",
        "18",
        2,
        "דוד:david משה:moshe יוסף:yosef אברהם:avraham יצחק:yitzhak יעקב:yaakov דניאל:daniel אריאל:ariel "
        "נועם:noam איתי:itai עומר:omer",
        "שרה:sarah רחל:rachel לאה:leah מיכל:michal נועה:noa תמר:tamar יעל:yael שירה:shira מאיה:maya "
        "הדס:hadas",
        "כהן:cohen לוי:levi מזרחי:mizrahi פרץ:peretz ביטון:biton דהן:dahan אברהם:avraham פרידמן:friedman "
        "אזולאי:azoulay מלכה:malka",
        "",
        ("{a} בע״מ", "{a} את {b} בע״מ", "{a} ובניו בע״מ"),
        "Israel",
        False,
    ),
    "IN": (
        "hi_IN",
        "INR",
        "18",
        3,
        "राहुल:rahul अमित:amit विकास:vikas सुरेश:suresh राजेश:rajesh अनिल:anil संजय:sanjay रवि:ravi "
        "अर्जुन:arjun रोहित:rohit",
        "प्रिया:priya सुनीता:sunita अनीता:anita पूजा:pooja नेहा:neha कविता:kavita रीना:reena सीमा:seema "
        "दीपिका:deepika अंजलि:anjali",
        "शर्मा:sharma वर्मा:verma गुप्ता:gupta सिंह:singh कुमार:kumar यादव:yadav मिश्रा:mishra "
        "पाण्डेय:pandey जोशी:joshi अग्रवाल:agarwal",
        "",
        ("{a} एंड संस प्राइवेट लिमिटेड", "{a} ट्रेडर्स", "{a} एंड {b} एंटरप्राइजेज"),
        "India",
        False,
    ),
    "BD": (
        "bn_BD",
        "BDT",
        "15",
        2,
        "রহিম:rahim করিম:karim আব্দুল:abdul আরিফ:arif সাকিব:sakib তানভীর:tanvir রাশেদ:rashed ইমরান:imran "
        "মাহমুদ:mahmud শফিক:shafiq",
        "ফাতেমা:fatema নাসরিন:nasrin শারমিন:sharmin তাসলিমা:taslima রুমানা:rumana সুমাইয়া:sumaiya "
        "নুসরাত:nusrat মরিয়ম:mariam আয়েশা:ayesha জান্নাত:jannat",
        "হোসেন:hossain আহমেদ:ahmed ইসলাম:islam রহমান:rahman খান:khan চৌধুরী:chowdhury উদ্দিন:uddin "
        "হক:haque মিয়া:miah সরকার:sarker",
        "",
        ("{a} ট্রেডার্স", "{a} এন্টারপ্রাইজ", "{a} অ্যান্ড {b} লিমিটেড"),
        "Bangladesh",
        False,
    ),
    "TH": (
        "th_TH",
        "THB",
        "7",
        2,
        "สมชาย:somchai สมศักดิ์:somsak ประเสริฐ:prasert วิชัย:wichai สุรชัย:surachai อนันต์:anan "
        "ธนากร:thanakorn ณัฐพล:nattapon กิตติ:kitti พงศกร:pongsakorn",
        "สมหญิง:somying นภา:napa สุดารัตน์:sudarat วราภรณ์:waraporn กาญจนา:kanchana พรทิพย์:porntip "
        "ศิริพร:siriporn อรุณี:arunee ปิยะนุช:piyanuch ธิดา:thida",
        "ใจดี:jaidee รักไทย:rakthai ศรีสุข:srisuk ทองดี:thongdee มั่นคง:mankong แก้วมณี:kaewmanee "
        "สุขสวัสดิ์:suksawat วงศ์ใหญ่:wongyai บุญมา:boonma ศรีสวัสดิ์:srisawat",
        "",
        ("บริษัท {a} จำกัด", "ห้างหุ้นส่วนจำกัด {a}", "บริษัท {a} เทรดดิ้ง จำกัด"),
        "Thailand",
        False,
    ),
    "LK": (
        "ta_LK",
        "LKR",
        "18",
        1,
        "முருகன்:murugan கணேசன்:ganesan ராஜா:raja சிவகுமார்:sivakumar குமரன்:kumaran செல்வம்:selvam "
        "அருண்:arun கார்த்திக்:karthik",
        "லட்சுமி:lakshmi மீனாட்சி:meenakshi பிரியா:priya கவிதா:kavitha தேவி:devi சரஸ்வதி:saraswathi "
        "அனிதா:anitha வள்ளி:valli",
        "சிவலிங்கம்:sivalingam நடராஜா:nadaraja கந்தசாமி:kandasamy பாலசுப்பிரமணியம்:balasubramaniam "
        "இராஜரத்தினம்:rajaratnam தியாகராஜா:thiyagaraja",
        "",
        ("{a} அண்ட் சன்ஸ்", "{a} வர்த்தக நிலையம்"),
        "Sri Lanka",
        False,
    ),
    "ES": (
        "es_ES",
        "EUR",
        "21",
        3,
        "Antonio José Manuel Francisco David Javier Daniel Carlos Jesús Alejandro Álvaro Sergio Íñigo",
        "María Carmen Ana Isabel Laura Lucía Cristina Marta Elena Sofía Nerea Begoña Inés",
        "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Martín Jiménez Ruiz "
        "Hernández Díaz Moreno Muñoz Álvarez Romero Navarro Ibáñez",
        "es",
        ("{a} y {b} S.L.", "Construcciones {a} S.A.", "Talleres {a} S.L."),
        "Spain",
        True,
    ),
    "IT": (
        "it_IT",
        "EUR",
        "22",
        3,
        "Giuseppe Giovanni Antonio Mario Luca Francesco Marco Alessandro Andrea Niccolò Nicolò",
        "Maria Anna Giulia Francesca Chiara Sara Laura Valentina Federica Alessia",
        "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti "
        "De_Luca Costa Fontana Caruso Mancini Rizzo Lombardi",
        "it",
        ("{a} & {b} S.r.l.", "Officina {a} S.n.c.", "{a} Costruzioni S.p.A."),
        "Italy",
        True,
    ),
    "NL": (
        "nl_NL",
        "EUR",
        "21",
        2,
        "Jan Daan Sem Lucas Bram Thijs Ruben Jeroen Maarten Sjoerd",
        "Emma Sophie Julia Anna Lotte Fleur Sanne Anouk Eline Marieke",
        "de_Jong Jansen de_Vries van_den_Berg van_Dijk Bakker Janssen Visser Smit Meijer de_Boer Mulder "
        "de_Groot Bos Vos Peters Hendriks",
        "nl",
        ("{a} B.V.", "{a} & {b} V.O.F.", "Bouwbedrijf {a} B.V."),
        "Netherlands",
        True,
    ),
    "PT": (
        "pt_PT",
        "EUR",
        "23",
        2,
        "João José António Francisco Manuel Rui Tiago Gonçalo Duarte Simão",
        "Maria Ana Beatriz Inês Mariana Leonor Joana Sofia Conceição Margarida",
        "Silva Santos Ferreira Pereira Oliveira Costa Rodrigues Martins Jesus Sousa Fernandes Gonçalves "
        "Gomes Lopes Marques Alves Magalhães",
        "pt",
        ("{a} & Filhos, Lda.", "{a} e {b}, Lda.", "Construções {a}, S.A."),
        "Portugal",
        True,
    ),
    "SE": (
        "sv_SE",
        "SEK",
        "25",
        2,
        "Lars Anders Johan Erik Per Karl Mikael Björn Håkan Olle",
        "Anna Eva Maria Karin Sara Kristina Lena Emma Åsa Linnéa",
        "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson "
        "Pettersson Jonsson Jansson Hansson Bengtsson Lindström Åberg Öberg",
        "sv",
        ("{a} & {b} AB", "{a} Bygg AB", "{a}s Måleri AB"),
        "Sweden",
        True,
    ),
    "TR": (
        "tr_TR",
        "TRY",
        "20",
        2,
        "Mehmet Mustafa Ahmet Ali Hüseyin Hasan İbrahim Murat Ömer Yusuf Emre Burak",
        "Ayşe Fatma Emine Hatice Zeynep Elif Meryem Şerife Özlem Büşra Gülşen",
        "Yılmaz Kaya Demir Şahin Çelik Yıldız Yıldırım Öztürk Aydın Özdemir Arslan Doğan Kılıç Aslan "
        "Çetin Kara Koç Kurt Özkan Şimşek",
        "tr",
        ("{a} Ticaret A.Ş.", "{a} ve {b} Ltd. Şti.", "{a} İnşaat Ltd. Şti."),
        "Türkiye",
        False,
    ),
}
