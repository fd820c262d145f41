"""Names for the synthetic subscribers of the first 13 countries, in their own scripts,
with the ASCII forms their e-mail addresses are made from (countries.py has the
rest). Tables and the functions that read them; no randomness here.
"""

from __future__ import annotations

import unicodedata


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_CYRILLIC_RU = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya".split(),
        strict=True,
    )
)
_CYRILLIC_UK = dict(
    zip(
        "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя'’",
        "a b v h g d e ye zh z y i i y k l m n o p r s t u f kh ts ch sh shch - yu ya - -".split(),
        strict=True,
    )
)
_GREEK = dict(
    zip(
        "αάβγδεέζηήθιίϊΐκλμνξοόπρσςτυύϋΰφχψωώ",
        "a a v g d e e z i i th i i i i k l m n x o o p r s s t y y y y f ch ps o o".split(),
        strict=True,
    )
)
_LATIN_EXTRA = {
    "ß": "ss",
    "ł": "l",
    "ø": "o",
    "æ": "ae",
    "œ": "oe",
    "đ": "d",
    "ı": "i",
    "'": "",
    "’": "",
    " ": "",
}
_GERMAN = {"ä": "ae", "ö": "oe", "ü": "ue"}


def _ascii(name: str, table: str) -> str:
    """Lower-case ASCII spelling of a name, for e-mail addresses."""
    text = name.lower()
    if table == "de":
        text = "".join(_GERMAN.get(ch, ch) for ch in text)
    if table in ("ru", "uk", "el"):
        mapping = {"ru": _CYRILLIC_RU, "uk": _CYRILLIC_UK, "el": _GREEK}[table]
        if table == "el":
            text = text.replace("ου", "ou").replace("ού", "ou")
        text = "".join(mapping.get(ch, ch) for ch in text).replace("-", "")
    text = "".join(_LATIN_EXTRA.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch == "-"))


def _names(text: str, table: str) -> tuple[tuple[str, str], ...]:
    """'Name' or 'Name:romaji' words -> ((native, ascii), ...); "_" joins a name of
    several words ("van_den_Berg")."""
    out = []
    for word in text.split():
        native, _, roman = word.replace("_", " ").partition(":")
        out.append((native, roman.lower() if roman else _ascii(native, table)))
    return tuple(out)


def _surnames(text: str, table: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """'Male/Female' (or one form for both) -> (male forms, female forms)."""
    male, female = [], []
    for word in text.split():
        m, _, f = word.partition("/")
        male.append(m)
        female.append(f or m)
    return _names(" ".join(male), table), _names(" ".join(female), table)


_DE_MALE = (
    "Lukas Jonas Maximilian Felix Leon Paul Jürgen Jörg Uwe Stefan Thomas Andreas "
    "Michael Björn Sören Matthias Tobias Florian Günter Klaus"
)
_DE_FEMALE = (
    "Anna Lena Sophie Marie Hannah Jana Katrin Sabine Ursula Käthe Jasmin Sarah "
    "Laura Julia Birgit Gisela Anke Lea Mia Jördis"
)
_DE_SURNAMES = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann "
    "Schäfer Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun "
    "Krüger Hofmann Hartmann Lange Werner Krause Köhler Weiß Groß Jäger Böhm Günther "
    "Kühn Möller Yılmaz Kaya Nowak"
)

_COUNTRY_DATA = {
    # code: (locale, currency, tax, weight, male, female, surnames, translit, companies, home, eu)
    "DE": (
        "de_DE",
        "EUR",
        "19",
        12,
        _DE_MALE,
        _DE_FEMALE,
        _DE_SURNAMES,
        "de",
        ("{a} & {b} GmbH", "{a} GmbH & Co. KG", "Autohaus {a} e.K.", "{a} & Söhne GmbH"),
        "Germany",
        True,
    ),
    "AT": (
        "de_AT",
        "EUR",
        "20",
        4,
        _DE_MALE + " Wolfgang Alois Johann",
        _DE_FEMALE + " Theresa Magdalena",
        "Gruber Huber Bauer Wagner Müller Pichler Moser Mayer Hofer Leitner Berger Fuchs Eder "
        "Fischer Schmid Winkler Weber Maier Reiter Wimmer Egger Brunner Baumgartner Auer "
        "Binder Lechner Wallner Aigner Ebner Pöschl Hörmann Strauß",
        "de",
        ("{a} & {b} OG", "{a} GmbH", "Tischlerei {a} e.U."),
        "Austria",
        True,
    ),
    "CH": (
        "de_CH",
        "CHF",
        "8.1",
        3,
        "Reto Beat Urs Lukas Noah Luca Jürg Matthias Marco Thomas Daniel Andreas Stefan Peter",
        "Mia Lea Nina Seraina Corinne Regula Ursula Barbara Anna Laura Sandra Nicole Käthi",
        "Müller Meier Schmid Keller Weber Huber Schneider Meyer Steiner Fischer Gerber Brunner "
        "Baumann Frei Zimmermann Moser Widmer Wyss Graf Roth Brändli Zürcher Bühler Kälin "
        "Lüthi Schürch",
        "de",
        ("{a} AG", "{a} & {b} GmbH", "Schreinerei {a} AG"),
        "Switzerland",
        False,
    ),
    "FR": (
        "fr_FR",
        "EUR",
        "20",
        9,
        "Jean Pierre Louis Gabriel Raphaël Léo Hugo Théo Jérôme François Benoît Stéphane "
        "Rémi Noël Mathéo Étienne Loïc Gaël",
        "Élodie Chloé Léa Manon Camille Inès Zoé Hélène Françoise Cécile Mélanie Noémie "
        "Anaïs Océane Maëlle Margaux Gaëlle Thérèse",
        "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
        "Lefèvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André "
        "Mercier Dupont Lambert Bonnet Guérin Chevalier Lemaître Ménard Prévost Rivière",
        "fr",
        ("{a} & Fils SARL", "Ateliers {a} SAS", "Cabinet {a} & {b}", "Boulangerie {a} SARL"),
        "France",
        True,
    ),
    "GB": (
        "en_GB",
        "GBP",
        "20",
        7,
        "Oliver George Harry Jack Charlie Thomas James William Daniel Liam Oisín Seán Rhys "
        "Dylan Callum Euan Alistair Hamish",
        "Olivia Amelia Isla Ava Emily Sophie Grace Siobhán Niamh Aoife Caitlín Eilidh "
        "Sinéad Charlotte Megan Bethan Rhiannon Zoë",
        "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts "
        "Robinson Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke "
        "Patel Jackson O'Connor O'Brien O'Neill McDonald MacLeod McLaughlin Khan Ahmed Singh",
        "en",
        ("{a} & {b} Ltd", "{a} Consulting Ltd", "{a} Builders Ltd"),
        "United Kingdom",
        False,
    ),
    "US": (
        "en_US",
        "USD",
        "0",
        7,
        "James Robert John Michael David William Richard Joseph Thomas Christopher Daniel "
        "Matthew Anthony José Luis Carlos Andrés Kevin Brian Tyler",
        "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Emily "
        "Ashley María Sofía Mónica Beatriz Renée Zoë",
        "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
        "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Pérez Thompson "
        "White Harris Sánchez Clark Ramírez Lewis Robinson Walker Young Nguyen Kim Carter "
        "Núñez Peña",
        "en",
        ("{a} & {b} LLC", "{a} Logistics Inc.", "{a} Family Dental PLLC"),
        "United States",
        False,
    ),
    "PL": (
        "pl_PL",
        "PLN",
        "23",
        6,
        "Piotr Krzysztof Andrzej Tomasz Paweł Michał Marcin Łukasz Grzegorz Jakub Mateusz "
        "Wojciech Stanisław Zbigniew Jarosław Kacper Szymon Bartłomiej",
        "Anna Maria Katarzyna Małgorzata Agnieszka Barbara Ewa Krystyna Magdalena Joanna "
        "Aleksandra Zofia Natalia Wiktoria Jadwiga Bożena Grażyna Elżbieta",
        "Nowak Kowalski/Kowalska Wiśniewski/Wiśniewska Wójcik Kowalczyk Kamiński/Kamińska "
        "Lewandowski/Lewandowska Zieliński/Zielińska Szymański/Szymańska Woźniak "
        "Dąbrowski/Dąbrowska Kozłowski/Kozłowska Jankowski/Jankowska Mazur "
        "Kwiatkowski/Kwiatkowska Krawczyk Piotrowski/Piotrowska Grabowski/Grabowska "
        "Pawłowski/Pawłowska Michalski/Michalska Król Wieczorek Jabłoński/Jabłońska Wróbel "
        "Górski/Górska Dudek Żak",
        "pl",
        ("{a} Sp. z o.o.", "{a} i Wspólnicy Sp. k.", "Zakład Usługowy {a}"),
        "Poland",
        True,
    ),
    "RU": (
        "ru_RU",
        "RUB",
        "20",
        7,
        "Александр Алексей Дмитрий Сергей Андрей Максим Иван Михаил Николай Евгений Артём "
        "Владимир Павел Игорь Юрий Фёдор Илья Роман",
        "Анна Мария Елена Ольга Наталья Татьяна Ирина Екатерина Светлана Юлия Анастасия "
        "Дарья Ксения Алёна Людмила Галина Виктория Полина",
        "Иванов/Иванова Смирнов/Смирнова Кузнецов/Кузнецова Попов/Попова "
        "Васильев/Васильева Петров/Петрова Соколов/Соколова Михайлов/Михайлова "
        "Новиков/Новикова Фёдоров/Фёдорова Морозов/Морозова Волков/Волкова "
        "Алексеев/Алексеева Лебедев/Лебедева Семёнов/Семёнова Егоров/Егорова "
        "Павлов/Павлова Козлов/Козлова Степанов/Степанова Николаев/Николаева Орлов/Орлова "
        "Андреев/Андреева Макаров/Макарова Никитин/Никитина Захаров/Захарова "
        "Зайцев/Зайцева Соловьёв/Соловьёва Белов/Белова Виноградов/Виноградова "
        "Жуков/Жукова Черных",
        "ru",
        ("ООО «{a} и партнёры»", "ООО «Торговый дом {a}»", "АО «{a} Логистика»"),
        "Russia",
        False,
    ),
    "UA": (
        "uk_UA",
        "UAH",
        "20",
        4,
        "Олександр Андрій Дмитро Сергій Володимир Тарас Богдан Микола Василь Іван Юрій Олег "
        "Максим Ярослав Михайло Петро Степан Євген",
        "Олена Оксана Наталія Тетяна Ірина Юлія Марія Анна Світлана Галина Катерина Ольга "
        "Людмила Соломія Ярина Христина Дарина Вікторія",
        "Шевченко Коваленко Бондаренко Ткаченко Кравченко Олійник Шевчук Коваль Поліщук "
        "Бойко Ткачук Мельник Лисенко Руденко Марченко Савченко Мороз Кравчук Павленко "
        "Петренко Гнатюк Ковальський/Ковальська Яворський/Яворська Левицький/Левицька "
        "Білецький/Білецька Ґудзь Їжакевич Єременко",
        "uk",
        ("ТОВ «{a} і партнери»", "ТОВ «{a} Груп»", "ПП «{a}»"),
        "Ukraine",
        False,
    ),
    "GR": (
        "el_GR",
        "EUR",
        "24",
        4,
        "Γιώργος Δημήτρης Κωνσταντίνος Γιάννης Νίκος Παναγιώτης Βασίλης Χρήστος Αθανάσιος "
        "Μιχάλης Ευάγγελος Σπύρος Αντώνης Ηλίας Στέλιος Θανάσης Πέτρος Άγγελος",
        "Μαρία Ελένη Αικατερίνη Βασιλική Σοφία Αγγελική Γεωργία Δήμητρα Κωνσταντίνα Ευαγγελία "
        "Παναγιώτα Χριστίνα Ιωάννα Αναστασία Δέσποινα Ειρήνη Θεοδώρα Φωτεινή",
        "Παπαδόπουλος/Παπαδοπούλου Παπαδάκης/Παπαδάκη Παπαγεωργίου Οικονόμου Γεωργίου "
        "Νικολάου Βασιλείου Ιωάννου Κωνσταντινίδης/Κωνσταντινίδου Παπανικολάου Αθανασίου "
        "Δημητρίου Μακρής/Μακρή Αντωνίου Καραγιάννης/Καραγιάννη Πετρίδης/Πετρίδου Αλεξίου "
        "Χατζηδάκης/Χατζηδάκη Μιχαηλίδης/Μιχαηλίδου Σταματόπουλος/Σταματοπούλου "
        "Θεοδωρόπουλος/Θεοδωροπούλου Ευαγγέλου Ζαχαρίου",
        "el",
        ("{a} & ΣΙΑ Ο.Ε.", "{a} Α.Ε.", "Αφοί {a} Ο.Ε."),
        "Greece",
        True,
    ),
    "JP": (
        "ja_JP",
        "JPY",
        "10",
        4,
        "翔太:Shota 健太:Kenta 大輔:Daisuke 拓也:Takuya 蓮:Ren 陽翔:Haruto 悠真:Yuma 湊:Minato "
        "誠:Makoto 浩:Hiroshi 隆:Takashi 直樹:Naoki",
        "花子:Hanako 陽菜:Hina 結衣:Yui さくら:Sakura 美咲:Misaki 葵:Aoi 凛:Rin 愛子:Aiko "
        "恵子:Keiko 由美:Yumi ひかり:Hikari みゆき:Miyuki",
        "佐藤:Sato 鈴木:Suzuki 高橋:Takahashi 田中:Tanaka 伊藤:Ito 渡辺:Watanabe 山本:Yamamoto "
        "中村:Nakamura 小林:Kobayashi 加藤:Kato 吉田:Yoshida 山田:Yamada 佐々木:Sasaki "
        "山口:Yamaguchi 松本:Matsumoto 井上:Inoue 木村:Kimura 林:Hayashi 清水:Shimizu 斎藤:Saito",
        "",
        ("株式会社{a}商事", "{a}工業株式会社", "{a}建設株式会社"),
        "Japan",
        False,
    ),
    "CN": (
        "zh_CN",
        "CNY",
        "6",
        3,
        "伟:Wei 强:Qiang 磊:Lei 军:Jun 洋:Yang 勇:Yong 杰:Jie 涛:Tao 明:Ming 浩然:Haoran "
        "子轩:Zixuan 建国:Jianguo 志强:Zhiqiang",
        "芳:Fang 娜:Na 敏:Min 静:Jing 丽:Li 秀英:Xiuying 婷:Ting 雪:Xue 欣怡:Xinyi 梓涵:Zihan "
        "雨桐:Yutong 慧:Hui",
        "王:Wang 李:Li 张:Zhang 刘:Liu 陈:Chen 杨:Yang 黄:Huang 赵:Zhao 吴:Wu 周:Zhou 徐:Xu "
        "孙:Sun 马:Ma 朱:Zhu 胡:Hu 郭:Guo 何:He 林:Lin 罗:Luo 高:Gao 欧阳:Ouyang",
        "",
        ("上海华信贸易有限公司", "深圳市鼎新电子有限公司", "杭州恒达科技有限公司", "北京瑞丰物流有限公司"),
        "China",
        False,
    ),
    "KR": (
        "ko_KR",
        "KRW",
        "10",
        3,
        "민준:Minjun 서준:Seojun 도윤:Doyun 예준:Yejun 시우:Siwoo 하준:Hajun 지호:Jiho "
        "준서:Junseo 현우:Hyunwoo 성민:Sungmin 동현:Donghyun 영호:Youngho",
        "서연:Seoyeon 서윤:Seoyun 지우:Jiwoo 하윤:Hayun 민서:Minseo 지민:Jimin 수빈:Subin "
        "예은:Yeeun 지은:Jieun 혜진:Hyejin 미영:Miyoung 은지:Eunji",
        "김:Kim 이:Lee 박:Park 최:Choi 정:Jung 강:Kang 조:Cho 윤:Yoon 장:Jang 임:Lim 한:Han "
        "오:Oh 서:Seo 신:Shin 권:Kwon 황:Hwang",
        "",
        ("주식회사 한빛", "(주)새솔테크", "미래넷 주식회사", "대한물산(주)"),
        "South Korea",
        False,
    ),
}


COUNTRY_DATA = _COUNTRY_DATA
names = _names
surnames = _surnames
