"""Postal addresses for the synthetic subscribers of the first 13 countries: streets,
cities and postcodes in each country's own order (countries.py has the rest).

Tables only, and one function per country drawing from them with the caller's
`random.Random`, so `synthetic` stays deterministic.
"""

from __future__ import annotations

import random


def _pick_code(rng: random.Random, lo: int, hi: int, step: int = 1) -> int:
    return lo + step * rng.randint(0, (hi - lo) // step)


def _house(rng: random.Random) -> str:
    n = rng.randint(1, 160)
    return f"{n}{rng.choice('ab')}" if rng.random() < 0.08 else str(n)


# Street + number / postcode + city formats ---------------------------------------

_DE_STREETS = (
    "Hauptstraße",
    "Bahnhofstraße",
    "Gartenstraße",
    "Schulstraße",
    "Lindenstraße",
    "Kirchstraße",
    "Waldstraße",
    "Ringstraße",
    "Mühlenweg",
    "Goethestraße",
    "Schillerstraße",
    "Friedrich-Ebert-Straße",
    "Rosenstraße",
    "Birkenweg",
    "Am Markt",
    "Weißdornweg",
    "Brückenstraße",
    "Königsallee",
    "Lessingstraße",
    "Jägerstraße",
)
_DE_CITIES = (
    ("Berlin", 10115, 14199),
    ("Hamburg", 20095, 22769),
    ("München", 80331, 81929),
    ("Köln", 50667, 51149),
    ("Frankfurt am Main", 60306, 60599),
    ("Stuttgart", 70173, 70629),
    ("Düsseldorf", 40210, 40629),
    ("Leipzig", 4103, 4357),
    ("Dresden", 1067, 1328),
    ("Nürnberg", 90402, 90491),
    ("Bremen", 28195, 28779),
    ("Hannover", 30159, 30669),
    ("Münster", 48143, 48167),
    ("Freiburg im Breisgau", 79098, 79117),
    ("Lübeck", 23552, 23570),
    ("Würzburg", 97070, 97084),
    ("Göttingen", 37073, 37085),
    ("Saarbrücken", 66111, 66133),
)


def _addr_de(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_DE_CITIES)
    return [f"{rng.choice(_DE_STREETS)} {_house(rng)}", f"{_pick_code(rng, lo, hi):05d} {city}"]


_AT_STREETS = (
    "Hauptstraße",
    "Mariahilfer Straße",
    "Landstraßer Hauptstraße",
    "Grazer Straße",
    "Linzer Straße",
    "Wiener Straße",
    "Schulgasse",
    "Kirchengasse",
    "Herrengasse",
    "Bahnhofstraße",
    "Salzburger Straße",
    "Feldgasse",
    "Mühlgasse",
    "Währinger Straße",
)
_AT_CITIES = (
    ("Wien", 1010, 1230, 10),
    ("Wien", 1010, 1230, 10),
    ("Wien", 1010, 1230, 10),
    ("Graz", 8010, 8055, 1),
    ("Linz", 4020, 4040, 1),
    ("Salzburg", 5020, 5026, 1),
    ("Innsbruck", 6020, 6080, 10),
    ("Klagenfurt am Wörthersee", 9020, 9073, 1),
    ("Villach", 9500, 9524, 1),
    ("St. Pölten", 3100, 3107, 1),
    ("Dornbirn", 6850, 6850, 1),
)


def _addr_at(rng: random.Random) -> list[str]:
    city, lo, hi, step = rng.choice(_AT_CITIES)
    number = str(rng.randint(1, 120))
    if rng.random() < 0.6:
        number += f"/{rng.randint(1, 4)}/{rng.randint(1, 24)}"
    return [f"{rng.choice(_AT_STREETS)} {number}", f"{_pick_code(rng, lo, hi, step)} {city}"]


_CH_STREETS = (
    "Bahnhofstrasse",
    "Hauptstrasse",
    "Dorfstrasse",
    "Kirchgasse",
    "Seestrasse",
    "Schulhausstrasse",
    "Bergstrasse",
    "Rosenweg",
    "Gartenstrasse",
    "Industriestrasse",
    "Zürcherstrasse",
    "Bernstrasse",
    "Sonnenbergstrasse",
    "Rütistrasse",
)
_CH_CITIES = (
    ("Zürich", 8001, 8057),
    ("Bern", 3001, 3030),
    ("Basel", 4001, 4059),
    ("Luzern", 6002, 6006),
    ("St. Gallen", 9000, 9016),
    ("Winterthur", 8400, 8411),
    ("Zug", 6300, 6300),
    ("Thun", 3600, 3608),
    ("Chur", 7000, 7000),
    ("Aarau", 5000, 5004),
)


def _addr_ch(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_CH_CITIES)
    return [f"{rng.choice(_CH_STREETS)} {_house(rng)}", f"{_pick_code(rng, lo, hi)} {city}"]


_FR_STREETS = (
    "rue de la République",
    "rue Victor Hugo",
    "avenue Jean Jaurès",
    "boulevard Voltaire",
    "rue des Écoles",
    "place de l'Église",
    "rue du Général de Gaulle",
    "allée des Tilleuls",
    "impasse des Lilas",
    "chemin du Moulin",
    "rue Pasteur",
    "avenue Foch",
    "quai Saint-Vincent",
    "rue Émile Zola",
    "rue de la Paix",
    "cours Lafayette",
)
_FR_CITIES = (
    ("PARIS", 75001, 75020, 1),
    ("PARIS", 75001, 75020, 1),
    ("LYON", 69001, 69009, 1),
    ("MARSEILLE", 13001, 13016, 1),
    ("TOULOUSE", 31000, 31500, 100),
    ("NICE", 6000, 6300, 100),
    ("NANTES", 44000, 44300, 100),
    ("STRASBOURG", 67000, 67200, 100),
    ("MONTPELLIER", 34000, 34090, 10),
    ("BORDEAUX", 33000, 33800, 100),
    ("LILLE", 59000, 59800, 100),
    ("RENNES", 35000, 35700, 100),
    ("SAINT-ÉTIENNE", 42000, 42100, 100),
)


def _addr_fr(rng: random.Random) -> list[str]:
    city, lo, hi, step = rng.choice(_FR_CITIES)
    lines = []
    if rng.random() < 0.15:
        lines.append(f"Bât. {rng.choice('ABCD')}, appt {rng.randint(1, 60)}")
    number = str(rng.randint(1, 140)) + (" bis" if rng.random() < 0.05 else "")
    lines.append(f"{number} {rng.choice(_FR_STREETS)}")
    lines.append(f"{_pick_code(rng, lo, hi, step):05d} {city}")
    return lines


_GB_STREETS = (
    "High Street",
    "Station Road",
    "Church Lane",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Park Avenue",
    "Queen's Road",
    "Kingsley Road",
    "Mill Lane",
    "The Crescent",
    "Albert Street",
    "Windsor Close",
    "Orchard Way",
)
_GB_TOWNS = (
    ("LONDON", ("N1", "E8", "SE15", "SW11", "NW3", "W4")),
    ("MANCHESTER", ("M1", "M14", "M20")),
    ("BIRMINGHAM", ("B1", "B15", "B29")),
    ("LEEDS", ("LS1", "LS6")),
    ("GLASGOW", ("G1", "G12")),
    ("EDINBURGH", ("EH1", "EH3", "EH10")),
    ("BRISTOL", ("BS1", "BS8")),
    ("CARDIFF", ("CF10", "CF24")),
    ("BELFAST", ("BT1", "BT7")),
    ("LIVERPOOL", ("L1", "L17")),
    ("NOTTINGHAM", ("NG1", "NG7")),
    ("OXFORD", ("OX1", "OX4")),
    ("CAMBRIDGE", ("CB1", "CB4")),
)
_GB_INWARD = "ABDEFGHJLNPQRSTUWXYZ"


def _addr_gb(rng: random.Random) -> list[str]:
    town, outward = rng.choice(_GB_TOWNS)
    lines = [f"Flat {rng.randint(1, 24)}"] if rng.random() < 0.25 else []
    lines.append(f"{rng.randint(1, 220)} {rng.choice(_GB_STREETS)}")
    inward = f"{rng.randint(1, 9)}{rng.choice(_GB_INWARD)}{rng.choice(_GB_INWARD)}"
    return [*lines, town, f"{rng.choice(outward)} {inward}"]


_US_STREETS = (
    "Main Street",
    "Oak Avenue",
    "Maple Drive",
    "Cedar Lane",
    "Elm Street",
    "Washington Boulevard",
    "Park Place",
    "Lakeview Drive",
    "Pine Street",
    "Madison Avenue",
    "Mission Street",
    "Peachtree Road NE",
    "SW Alder Street",
    "W 57th Street",
)
# city, state, zip range, combined sales tax (percent)
_US_CITIES = (
    ("New York", "NY", 10001, 10282, "8.875"),
    ("Los Angeles", "CA", 90001, 90089, "9.5"),
    ("Chicago", "IL", 60601, 60661, "10.25"),
    ("Houston", "TX", 77001, 77099, "8.25"),
    ("Phoenix", "AZ", 85001, 85054, "8.6"),
    ("Philadelphia", "PA", 19102, 19154, "8"),
    ("San Diego", "CA", 92101, 92199, "7.75"),
    ("Dallas", "TX", 75201, 75287, "8.25"),
    ("Seattle", "WA", 98101, 98199, "10.35"),
    ("Portland", "OR", 97201, 97299, "0"),
    ("Denver", "CO", 80201, 80299, "8.81"),
    ("Boston", "MA", 2108, 2137, "6.25"),
    ("Atlanta", "GA", 30301, 30399, "8.9"),
    ("Miami", "FL", 33101, 33199, "7"),
    ("Anchorage", "AK", 99501, 99524, "0"),
)
_US_TAX = {f"{city}, {state}": tax for city, state, _, _, tax in _US_CITIES}


def _addr_us(rng: random.Random) -> list[str]:
    city, state, lo, hi, _ = rng.choice(_US_CITIES)
    street = f"{rng.randint(10, 9800)} {rng.choice(_US_STREETS)}"
    if rng.random() < 0.3:
        street += f", Apt {rng.randint(1, 30)}{rng.choice('ABCDEF')}"
    return [street, f"{city}, {state} {_pick_code(rng, lo, hi):05d}"]


_PL_STREETS = (
    "ul. Marszałkowska",
    "ul. Długa",
    "ul. Polna",
    "ul. Leśna",
    "ul. Słoneczna",
    "ul. Krótka",
    "ul. Szkolna",
    "ul. Ogrodowa",
    "ul. Lipowa",
    "ul. Kościuszki",
    "ul. Mickiewicza",
    "ul. Żeromskiego",
    "al. Jerozolimskie",
    "ul. Piłsudskiego",
    "ul. Świętokrzyska",
)
_PL_CITIES = (
    ("Warszawa", 1, 4999),
    ("Warszawa", 1, 4999),
    ("Kraków", 30001, 31999),
    ("Łódź", 90001, 94999),
    ("Wrocław", 50001, 54999),
    ("Poznań", 60001, 61999),
    ("Gdańsk", 80001, 80999),
    ("Szczecin", 70001, 71999),
    ("Bydgoszcz", 85001, 85999),
    ("Lublin", 20001, 20999),
    ("Katowice", 40001, 40999),
    ("Białystok", 15001, 15999),
    ("Gdynia", 81001, 81999),
    ("Toruń", 87100, 87100),
    ("Rzeszów", 35001, 35999),
)


def _addr_pl(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_PL_CITIES)
    number = _house(rng)
    if rng.random() < 0.6:
        number += f"/{rng.randint(1, 120)}"
    code = _pick_code(rng, lo, hi)
    return [f"{rng.choice(_PL_STREETS)} {number}", f"{code // 1000:02d}-{code % 1000:03d} {city}"]


_RU_STREETS = (
    "ул. Ленина",
    "пр-т Мира",
    "ул. Гагарина",
    "ул. Советская",
    "ул. Садовая",
    "ул. Пушкина",
    "ул. Лесная",
    "наб. Фонтанки",
    "пер. Кривоколенный",
    "ул. Большая Садовая",
    "ш. Энтузиастов",
    "Цветной б-р",
    "ул. Малышева",
    "ул. Чкалова",
)
_RU_CITIES = (
    ("Москва", None, 101000, 129999),
    ("Москва", None, 101000, 129999),
    ("Санкт-Петербург", None, 190000, 199406),
    ("Новосибирск", "Новосибирская обл.", 630000, 630132),
    ("Екатеринбург", "Свердловская обл.", 620000, 620149),
    ("Казань", "Республика Татарстан", 420000, 420141),
    ("Нижний Новгород", "Нижегородская обл.", 603000, 603163),
    ("Самара", "Самарская обл.", 443000, 443125),
    ("Ростов-на-Дону", "Ростовская обл.", 344000, 344113),
    ("Краснодар", "Краснодарский край", 350000, 350089),
    ("Владивосток", "Приморский край", 690000, 690109),
    ("Калининград", "Калининградская обл.", 236000, 236044),
    ("Ярославль", "Ярославская обл.", 150000, 150066),
)


def _addr_ru(rng: random.Random) -> list[str]:
    city, region, lo, hi = rng.choice(_RU_CITIES)
    line = f"{rng.choice(_RU_STREETS)}, д. {rng.randint(1, 120)}"
    if rng.random() < 0.85:
        line += f", кв. {rng.randint(1, 300)}"
    lines = [line, f"г. {city}"]
    if region:
        lines.append(region)
    lines.append(str(_pick_code(rng, lo, hi)))
    return lines


_UA_STREETS = (
    "вул. Хрещатик",
    "вул. Шевченка",
    "вул. Франка",
    "просп. Перемоги",
    "вул. Грушевського",
    "вул. Садова",
    "вул. Лесі Українки",
    "вул. Соборна",
    "вул. Незалежності",
    "бульв. Шевченка",
    "вул. Городоцька",
    "вул. Дерибасівська",
)
_UA_CITIES = (
    ("Київ", None, 1001, 4216),
    ("Київ", None, 1001, 4216),
    ("Львів", "Львівська обл.", 79000, 79071),
    ("Одеса", "Одеська обл.", 65000, 65125),
    ("Харків", "Харківська обл.", 61000, 61204),
    ("Дніпро", "Дніпропетровська обл.", 49000, 49128),
    ("Вінниця", "Вінницька обл.", 21000, 21037),
    ("Івано-Франківськ", "Івано-Франківська обл.", 76000, 76026),
    ("Полтава", "Полтавська обл.", 36000, 36040),
    ("Чернівці", "Чернівецька обл.", 58000, 58032),
    ("Ужгород", "Закарпатська обл.", 88000, 88018),
)


def _addr_ua(rng: random.Random) -> list[str]:
    city, region, lo, hi = rng.choice(_UA_CITIES)
    line = f"{rng.choice(_UA_STREETS)}, {rng.randint(1, 120)}"
    if rng.random() < 0.8:
        line += f", кв. {rng.randint(1, 250)}"
    lines = [line, f"м. {city}"]
    if region:
        lines.append(region)
    lines.append(f"{_pick_code(rng, lo, hi):05d}")
    return lines


_GR_STREETS = (
    "Ερμού",
    "Σταδίου",
    "Πανεπιστημίου",
    "Αιόλου",
    "Τσιμισκή",
    "Εγνατία",
    "Λεωφόρος Κηφισίας",
    "Λεωφόρος Συγγρού",
    "Αγίου Δημητρίου",
    "Πατησίων",
    "Βασιλίσσης Σοφίας",
    "Αριστοτέλους",
    "Μητροπόλεως",
    "Κολοκοτρώνη",
    "25ης Μαρτίου",
    "Ελευθερίου Βενιζέλου",
)
_GR_CITIES = (
    ("Αθήνα", 10431, 11855),
    ("Αθήνα", 10431, 11855),
    ("Θεσσαλονίκη", 54621, 56430),
    ("Πάτρα", 26221, 26500),
    ("Ηράκλειο", 71201, 71500),
    ("Λάρισα", 41221, 41500),
    ("Βόλος", 38221, 38500),
    ("Ιωάννινα", 45221, 45500),
    ("Χανιά", 73100, 73136),
    ("Καλαμάτα", 24100, 24100),
    ("Ρόδος", 85100, 85100),
    ("Κέρκυρα", 49100, 49100),
)


def _addr_gr(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_GR_CITIES)
    code = _pick_code(rng, lo, hi)
    return [f"{rng.choice(_GR_STREETS)} {rng.randint(1, 180)}", f"{code // 100} {code % 100:02d} {city}"]


# 〒 postcode / prefecture + city + area + chōme-ban-gō / building -------------------

_JP_PLACES = (
    ("東京都渋谷区", ("神南", "道玄坂", "恵比寿", "代々木"), 1500000, 1510073),
    ("東京都新宿区", ("西新宿", "高田馬場", "神楽坂"), 1600000, 1690075),
    ("東京都世田谷区", ("三軒茶屋", "下北沢", "成城"), 1540000, 1580098),
    ("大阪府大阪市北区", ("梅田", "中之島", "天満"), 5300001, 5310076),
    ("神奈川県横浜市中区", ("山下町", "元町", "本町"), 2310000, 2310868),
    ("愛知県名古屋市中区", ("栄", "錦", "丸の内"), 4600001, 4600033),
    ("福岡県福岡市中央区", ("天神", "大名", "赤坂"), 8100001, 8100080),
    ("北海道札幌市中央区", ("大通西", "南三条西", "北一条西"), 600001, 640959),
    ("京都府京都市左京区", ("吉田", "下鴨", "岡崎"), 6060000, 6068439),
)
_JP_BUILDINGS = (
    "グランドメゾン",
    "サンハイツ",
    "コーポ青葉",
    "レジデンス桜",
    "メゾン・ド・ソレイユ",
    "ハイツ緑が丘",
)


def _addr_jp(rng: random.Random) -> list[str]:
    city, areas, lo, hi = rng.choice(_JP_PLACES)
    code = f"{_pick_code(rng, lo, hi):07d}"
    lines = [
        f"〒{code[:3]}-{code[3:]}",
        f"{city}{rng.choice(areas)}{rng.randint(1, 9)}丁目{rng.randint(1, 30)}-{rng.randint(1, 20)}",
    ]
    if rng.random() < 0.5:
        lines.append(f"{rng.choice(_JP_BUILDINGS)}{rng.randint(1, 12)}0{rng.randint(1, 9)}号室")
    return lines


_CN_PLACES = (
    ("上海市", ("浦东新区", "徐汇区", "静安区", "黄浦区"), 200000, 201999),
    ("北京市", ("朝阳区", "海淀区", "东城区", "西城区"), 100000, 102699),
    ("广东省广州市", ("天河区", "越秀区", "海珠区"), 510000, 510999),
    ("广东省深圳市", ("南山区", "福田区", "罗湖区"), 518000, 518999),
    ("浙江省杭州市", ("西湖区", "上城区", "滨江区"), 310000, 310999),
    ("四川省成都市", ("锦江区", "武侯区", "青羊区"), 610000, 610999),
    ("湖北省武汉市", ("武昌区", "江汉区", "洪山区"), 430000, 430999),
)
_CN_ROADS = (
    "世纪大道",
    "南京西路",
    "淮海中路",
    "长安街",
    "建国路",
    "中山路",
    "人民路",
    "解放路",
    "天河路",
    "深南大道",
    "文三路",
    "春熙路",
)


def _addr_cn(rng: random.Random) -> list[str]:
    city, districts, lo, hi = rng.choice(_CN_PLACES)
    lines = [f"{city}{rng.choice(districts)}{rng.choice(_CN_ROADS)}{rng.randint(1, 1200)}号"]
    if rng.random() < 0.6:
        lines.append(f"{rng.randint(1, 12)}号楼{rng.randint(1, 30)}0{rng.randint(1, 9)}室")
    lines.append(str(_pick_code(rng, lo, hi)))
    return lines


_KR_PLACES = (
    ("서울특별시", ("강남구", "종로구", "마포구", "송파구", "서초구"), 1000, 8899),
    ("부산광역시", ("해운대구", "부산진구", "수영구"), 46000, 49527),
    ("인천광역시", ("연수구", "남동구", "부평구"), 21000, 23136),
    ("대구광역시", ("수성구", "중구", "달서구"), 41000, 43023),
    ("대전광역시", ("유성구", "서구"), 34000, 35423),
    ("광주광역시", ("동구", "서구", "북구"), 61000, 62466),
    ("경기도 수원시", ("영통구", "팔달구"), 16200, 16706),
    ("경기도 성남시", ("분당구", "수정구"), 13100, 13640),
)
_KR_ROADS = (
    "테헤란로",
    "세종대로",
    "올림픽로",
    "강남대로",
    "해운대로",
    "중앙대로",
    "월드컵로",
    "판교역로",
    "한강대로",
    "동탄대로",
)


def _addr_kr(rng: random.Random) -> list[str]:
    city, districts, lo, hi = rng.choice(_KR_PLACES)
    lines = [f"{city} {rng.choice(districts)} {rng.choice(_KR_ROADS)} {rng.randint(1, 500)}"]
    if rng.random() < 0.6:
        lines.append(f"{rng.randint(101, 115)}동 {rng.randint(1, 25)}0{rng.randint(1, 6)}호")
    lines.append(f"{_pick_code(rng, lo, hi):05d}")
    return lines


# Names -----------------------------------------------------------------------------


ADDRESS = {
    "DE": _addr_de,
    "AT": _addr_at,
    "CH": _addr_ch,
    "FR": _addr_fr,
    "GB": _addr_gb,
    "US": _addr_us,
    "PL": _addr_pl,
    "RU": _addr_ru,
    "UA": _addr_ua,
    "GR": _addr_gr,
    "JP": _addr_jp,
    "CN": _addr_cn,
    "KR": _addr_kr,
}
US_TAX = _US_TAX
