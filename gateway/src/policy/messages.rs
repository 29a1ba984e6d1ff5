//! Every message about a policy, in English and Bahasa Indonesia, in one catalogue.
//!
//! Each entry names its text in both languages: an entry without one does not compile. A
//! text's placeholders are written `{name}` (lowercase letters, digits and `_`, no spaces,
//! so TOML examples such as `{ upload = "1Gbps" }` stay as they are); both texts of an entry
//! have the same placeholders, which a test checks. Hints show a line that is correct.

use std::fmt;

/// The language messages are shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Id,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Id];

    /// "en" or "id" (as `check --lang` takes them).
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" | "english" => Some(Lang::En),
            "id" | "indonesia" | "bahasa" => Some(Lang::Id),
            _ => None,
        }
    }

    /// From the locale, as POSIX orders it: LC_ALL, then LC_MESSAGES, then LANG. Bahasa
    /// Indonesia for `id` and `id_*` (e.g. `id_ID.UTF-8`), English otherwise.
    pub fn from_env() -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty());
        Lang::from_locale(locale.as_deref().unwrap_or(""))
    }

    pub fn from_locale(locale: &str) -> Lang {
        if locale == "id" || locale.starts_with("id_") || locale.starts_with("id.") {
            Lang::Id
        } else {
            Lang::En
        }
    }
}

macro_rules! catalogue {
    ($( $name:ident { en: $en:literal, id: $id:literal $(,)? } )*) => {
        /// Which message; its texts are in [`MsgId::template`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum MsgId { $($name),* }

        impl MsgId {
            /// Every message, for the tests.
            pub const ALL: &[MsgId] = &[$(MsgId::$name),*];

            /// The text with its `{placeholders}`.
            pub const fn template(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $(
                        (MsgId::$name, Lang::En) => $en,
                        (MsgId::$name, Lang::Id) => $id,
                    )*
                }
            }
        }
    };
}

catalogue! {
    // How a finding is shown.
    Error { en: "error", id: "kesalahan" }
    Warning { en: "warning", id: "peringatan" }
    Hint { en: "hint", id: "petunjuk" }
    OneErrorInPolicy {
        en: "1 error in the policy",
        id: "1 kesalahan dalam kebijakan",
    }
    ErrorsInPolicy {
        en: "{count} errors in the policy",
        id: "{count} kesalahan dalam kebijakan",
    }
    PolicyValid {
        en: "{path}: policy is valid: site \"{site}\", {agencies} agencies in {files} file(s), {warnings} warning(s)",
        id: "{path}: kebijakan valid: situs \"{site}\", {agencies} OPD dalam {files} berkas, {warnings} peringatan",
    }

    // Reading the files.
    CannotReadPolicy {
        en: "cannot read the policy: {reason}",
        id: "kebijakan tidak dapat dibaca: {reason}",
    }
    CannotReadPolicyHint {
        en: "give a policy file or a directory of *.toml files, e.g. `opd-gateway check /etc/opd-gateway/policy`",
        id: "berikan satu berkas kebijakan atau direktori berisi berkas *.toml, mis. `opd-gateway check /etc/opd-gateway/policy`",
    }
    CannotListDir {
        en: "cannot list the policy directory: {reason}",
        id: "isi direktori kebijakan tidak dapat dibaca: {reason}",
    }
    NoTomlFiles {
        en: "the policy directory has no *.toml files",
        id: "direktori kebijakan tidak berisi berkas *.toml",
    }
    NoTomlFilesHint {
        en: "add a site file such as 00-site.toml starting with `[site]`, and agency files with `[[agency]]` tables",
        id: "tambahkan berkas situs seperti 00-site.toml yang diawali `[site]`, dan berkas OPD berisi tabel `[[agency]]`",
    }
    CannotReadFile {
        en: "cannot read the file: {reason}",
        id: "berkas tidak dapat dibaca: {reason}",
    }
    NotUtf8 {
        en: "the file is not UTF-8: byte {byte}{latin1} here cannot be read",
        id: "berkas ini bukan UTF-8: byte {byte}{latin1} di sini tidak dapat dibaca",
    }
    NotUtf8Latin1 {
        en: " (\"{char}\" in Windows' \"ANSI\" encoding)",
        id: " (\"{char}\" dalam encoding \"ANSI\" Windows)",
    }
    Utf16 {
        en: "the file is UTF-16 (Notepad's \"Unicode\"), not UTF-8",
        id: "berkas ini UTF-16 (\"Unicode\" di Notepad), bukan UTF-8",
    }
    NotUtf8Hint {
        en: "save the file as UTF-8: in Notepad, File > Save As > Encoding: UTF-8; in vim, `:set fileencoding=utf-8` then `:w`",
        id: "simpan berkas sebagai UTF-8: di Notepad, File > Save As > Encoding: UTF-8; di vim, `:set fileencoding=utf-8` lalu `:w`",
    }

    // TOML syntax.
    DuplicateKey {
        en: "`{key}` is set twice",
        id: "`{key}` ditulis dua kali",
    }
    DuplicateKeyHint {
        en: "it is first set at {place}; keep one of the two",
        id: "pertama kali ditulis di {place}; pertahankan salah satunya",
    }
    DuplicateKeyNoPlaceHint {
        en: "keep one of the two; a key is set once in each table",
        id: "pertahankan salah satunya; setiap kunci ditulis sekali dalam satu tabel",
    }
    TooDeep {
        en: "values are nested too deeply here",
        id: "nilai di sini bersarang terlalu dalam",
    }
    TooDeepHint {
        en: "a policy nests at most a list in a list, e.g. `qinq = [[3000, 10]]`",
        id: "kebijakan paling dalam memuat daftar di dalam daftar, mis. `qinq = [[3000, 10]]`",
    }
    SyntaxUnquoted {
        en: "this value is neither text in quotes nor a number",
        id: "nilai ini bukan teks dalam tanda kutip dan bukan angka",
    }
    SyntaxQuote {
        en: "a double quote is missing around this text",
        id: "tanda kutip ganda di sekitar teks ini kurang",
    }
    SyntaxNoValue {
        en: "a key without `= value`",
        id: "kunci tanpa `= nilai`",
    }
    SyntaxHeader {
        en: "this table header is not closed with `]`",
        id: "judul tabel ini tidak ditutup dengan `]`",
    }
    SyntaxHeaderHint {
        en: "write the headers as `[site]`, `[[agency]]` and `[[agency.schedule]]`",
        id: "tulis judul tabel sebagai `[site]`, `[[agency]]` dan `[[agency.schedule]]`",
    }
    SyntaxInlineTable {
        en: "a table `{ … }` is not closed, or a comma is missing between its keys",
        id: "tabel `{ … }` tidak ditutup, atau koma di antara kuncinya kurang",
    }
    SyntaxList {
        en: "a list `[ … ]` is not closed, or a comma is missing between its items",
        id: "daftar `[ … ]` tidak ditutup, atau koma di antara isinya kurang",
    }
    SyntaxTrailing {
        en: "something follows the value on this line",
        id: "ada sesuatu setelah nilai di baris ini",
    }
    SyntaxTrailingHint {
        en: "one `key = value` per line, a comment after `#`, e.g. `lan = \"eth1\"  # trunk to the agencies`",
        id: "satu `kunci = nilai` per baris, komentar setelah `#`, mis. `lan = \"eth1\"  # trunk ke OPD`",
    }
    SyntaxSingleQuote {
        en: "a single quote `'` is missing around this text",
        id: "tanda kutip tunggal `'` di sekitar teks ini kurang",
    }
    SyntaxCurlyQuote {
        en: "“ ” and ‘ ’ are typographic quotes (from a word processor or a chat); TOML takes straight quotes `\"`",
        id: "“ ” dan ‘ ’ adalah tanda kutip tipografi (dari pengolah kata atau aplikasi chat); TOML hanya menerima tanda kutip lurus `\"`",
    }
    SyntaxInnerQuote {
        en: "a quote inside the text ends it early",
        id: "tanda kutip di dalam teks mengakhiri teks terlalu awal",
    }
    SyntaxEscape {
        en: "in double quotes a backslash starts an escape such as `\\n`, and `{escape}` is not one",
        id: "di dalam tanda kutip ganda, backslash mengawali escape seperti `\\n`, dan `{escape}` bukan escape yang benar",
    }
    SyntaxEscapeHint {
        en: "in single quotes a backslash stays as written: `{line}`",
        id: "di dalam tanda kutip tunggal, backslash tetap seperti yang ditulis: `{line}`",
    }
    SyntaxEscapeDoubleHint {
        en: "in double quotes write a backslash twice: `{line}`",
        id: "di dalam tanda kutip ganda, tulis backslash dua kali: `{line}`",
    }
    SyntaxControl {
        en: "an invisible control character ({code}) is here, which TOML does not allow",
        id: "ada karakter kontrol tak terlihat ({code}) di sini, yang tidak diizinkan dalam TOML",
    }
    SyntaxControlHint {
        en: "delete it: `{line}`",
        id: "hapus karakter itu: `{line}`",
    }
    SyntaxLoneCr {
        en: "a carriage return (CR) alone ends this line; Windows ends lines with CR LF, Linux with LF",
        id: "carriage return (CR) saja mengakhiri baris ini; Windows mengakhiri baris dengan CR LF, Linux dengan LF",
    }
    SyntaxLoneCrHint {
        en: "save the file with Windows or Linux line ends: in Notepad++, Edit > EOL Conversion; in vim, `:set fileformat=unix` then `:w`",
        id: "simpan berkas dengan akhir baris Windows atau Linux: di Notepad++, Edit > EOL Conversion; di vim, `:set fileformat=unix` lalu `:w`",
    }
    SyntaxDottedTable {
        en: "`{dotted}` adds to `{key}`, which is already written whole as `{ … }`",
        id: "`{dotted}` menambah isi `{key}`, padahal `{key}` sudah ditulis utuh sebagai `{ … }`",
    }
    SyntaxDottedTableHint {
        en: "write all of `{key}` in one `{ … }`, e.g. `{line}`",
        id: "tulis seluruh isi `{key}` dalam satu `{ … }`, mis. `{line}`",
    }
    SyntaxDottedValue {
        en: "`{key}` already has a value, so `{dotted}` cannot add to it",
        id: "`{key}` sudah berisi nilai, jadi `{dotted}` tidak dapat menambah isinya",
    }
    SyntaxDateTime {
        en: "`{value}` is not a valid date or time: {reason}",
        id: "`{value}` bukan tanggal atau waktu yang benar: {reason}",
    }
    SyntaxDateTimeHint {
        en: "dates and times are text in quotes here: `{line}`",
        id: "di sini tanggal dan waktu ditulis sebagai teks dalam tanda kutip: `{line}`",
    }
    DateHour { en: "hours go from 00 to 23", id: "jam hanya dari 00 sampai 23" }
    DateMinute { en: "minutes go from 00 to 59", id: "menit hanya dari 00 sampai 59" }
    DateSecond { en: "seconds go from 00 to 60", id: "detik hanya dari 00 sampai 60" }
    DateMonth { en: "months go from 01 to 12", id: "bulan hanya dari 01 sampai 12" }
    DateDay {
        en: "this month has days 01 to {max}",
        id: "tanggal di bulan ini hanya 01 sampai {max}",
    }
    DateDigits {
        en: "hours, minutes, months and days have two digits and years four, e.g. 07:00 and 2025-01-31",
        id: "jam, menit, bulan dan tanggal ditulis dua angka dan tahun empat angka, mis. 07:00 dan 2025-01-31",
    }
    SyntaxNumber {
        en: "`{value}` is not a number as TOML writes them: {reason}",
        id: "`{value}` bukan penulisan angka yang benar dalam TOML: {reason}",
    }
    SyntaxNumberPlain {
        en: "`{value}` is not a number as TOML writes them",
        id: "`{value}` bukan penulisan angka yang benar dalam TOML",
    }
    NumberLeadingZero {
        en: "no 0 before the first digit",
        id: "angka tidak diawali 0",
    }
    NumberUnderscore {
        en: "`_` goes only between two digits",
        id: "`_` hanya boleh di antara dua angka",
    }
    NumberPoint {
        en: "a decimal point has digits on both sides",
        id: "titik desimal harus diapit angka di kedua sisinya",
    }
    SyntaxSeveralValues {
        en: "several values after one `=`: a key takes one value, or a list `[ … ]` of them",
        id: "ada beberapa nilai setelah satu `=`: satu kunci berisi satu nilai, atau satu daftar `[ … ]`",
    }
    SyntaxThousands {
        en: "a number is written without a thousands separator",
        id: "angka ditulis tanpa pemisah ribuan",
    }
    SyntaxMissingValue {
        en: "the value after `=` is missing",
        id: "nilai setelah `=` tidak ada",
    }
    SyntaxEmptyKey {
        en: "a key's name is missing here",
        id: "nama kunci tidak ada di sini",
    }
    SyntaxKeySpace {
        en: "a key is one word: letters, digits, `-` and `_`, without spaces",
        id: "kunci ditulis satu kata: huruf, angka, `-` dan `_`, tanpa spasi",
    }
    SyntaxKeyChars {
        en: "a key without quotes has only letters a–z, digits, `-` and `_`, not `{chars}`",
        id: "kunci tanpa tanda kutip hanya berisi huruf a–z, angka, `-` dan `_`, bukan `{chars}`",
    }
    SyntaxColon {
        en: "a key and its value are separated by `=`, not `:`",
        id: "kunci dan nilainya dipisahkan oleh `=`, bukan `:`",
    }
    SyntaxExtraEquals {
        en: "`=` is written twice",
        id: "`=` ditulis dua kali",
    }
    SyntaxExtraComma {
        en: "a comma too many: items are separated by one comma",
        id: "kelebihan koma: isinya dipisahkan oleh satu koma",
    }
    SyntaxListEquals {
        en: "a list `[ … ]` holds values separated by commas, not `key = value`",
        id: "daftar `[ … ]` berisi nilai yang dipisahkan koma, bukan `kunci = nilai`",
    }
    SyntaxListHint {
        en: "a list is written in `[ ]` with a comma between its items, e.g. `vlans = [110, 111]`",
        id: "daftar ditulis di dalam `[ ]` dengan koma di antara isinya, mis. `vlans = [110, 111]`",
    }
    SyntaxInlineTableHint {
        en: "a table is written in `{ }` with a comma between its keys, e.g. `capacity = { upload = \"500Mbps\", download = \"1Gbps\" }`",
        id: "tabel ditulis di dalam `{ }` dengan koma di antara kuncinya, mis. `capacity = { upload = \"500Mbps\", download = \"1Gbps\" }`",
    }
    SyntaxHeaderName {
        en: "a name is missing in this table header",
        id: "nama di judul tabel ini tidak ada",
    }
    SyntaxHeaderOpen {
        en: "this table header does not start with `[`",
        id: "judul tabel ini tidak diawali `[`",
    }
    SyntaxAfterHeader {
        en: "something follows the table header on this line",
        id: "ada sesuatu setelah judul tabel di baris ini",
    }
    SyntaxComment {
        en: "a comment starts with `#`",
        id: "komentar diawali `#`",
    }
    SyntaxLineStart {
        en: "a line starts with a key or a table header, not `{char}`",
        id: "baris diawali kunci atau judul tabel, bukan `{char}`",
    }
    Syntax {
        en: "this line is not valid TOML (the TOML parser says \"{detail}\")",
        id: "baris ini bukan TOML yang benar (pesan parser TOML: \"{detail}\")",
    }
    SyntaxHint {
        en: "each line is `key = value`, text in double quotes, e.g. `lan = \"eth1\"`",
        id: "setiap baris berbentuk `kunci = nilai`, teks diapit tanda kutip ganda, mis. `lan = \"eth1\"`",
    }

    // Keys and the kinds of their values.
    UnknownKey {
        en: "unknown key `{key}` in {table}",
        id: "kunci `{key}` tidak dikenal di {table}",
    }
    DidYouMean {
        en: "did you mean `{key}`? e.g. `{line}`",
        id: "mungkin maksudnya `{key}`? mis. `{line}`",
    }
    MikrotikName {
        en: "MikroTik's `{alias}` is `{key}` here, e.g. `{line}`",
        id: "`{alias}` di MikroTik ditulis `{key}` di sini, mis. `{line}`",
    }
    MikrotikBurst {
        en: "MikroTik's `{alias}` is a rate; here `burst` is the depth of the bucket as time at the rate, e.g. `{line}`",
        id: "`{alias}` di MikroTik adalah kecepatan; di sini `burst` adalah kedalaman bucket sebagai waktu pada kecepatan itu, mis. `{line}`",
    }
    MikrotikPcqClassifier {
        en: "MikroTik's `{alias}` picks the address a host is known by; here a host is the destination address for download and the source address for upload, and `hosts` says how an agency's rate is shared between its hosts, e.g. `{line}`",
        id: "`{alias}` di MikroTik memilih alamat yang menandai host; di sini host adalah alamat tujuan untuk unduh dan alamat sumber untuk unggah, dan `hosts` menentukan cara kecepatan OPD dibagi di antara host-nya, mis. `{line}`",
    }
    MikrotikNameElsewhere {
        en: "MikroTik's `{alias}` is `{key}` here, set {place}, e.g. `{line}`",
        id: "`{alias}` di MikroTik ditulis `{key}` di sini, {place}, mis. `{line}`",
    }
    KeyElsewhere {
        en: "`{key}` is set {place}, e.g. `{line}`",
        id: "`{key}` ditulis {place}, mis. `{line}`",
    }
    PlacePerDirection {
        en: "for one direction, inside the agency's `upload` or `download` (it holds at all times, also during a schedule)",
        id: "untuk satu arah, di dalam `upload` atau `download` milik OPD (berlaku setiap saat, juga selama jadwal)",
    }
    PlaceSiteOrAgency {
        en: "in [site] for every agency, or in an [[agency]] for that agency",
        id: "di [site] untuk semua OPD, atau di [[agency]] untuk OPD itu",
    }
    PlaceSite {
        en: "once for the whole gateway, in [site]",
        id: "sekali untuk seluruh gateway, di [site]",
    }
    KnownKeys {
        en: "the keys of {table} are {keys}, e.g. `{line}`",
        id: "kunci yang dikenal di {table}: {keys}, mis. `{line}`",
    }
    MissingKey {
        en: "{table} has no `{key}`",
        id: "{table} tidak memiliki `{key}`",
    }
    WriteLike {
        en: "write it like this: `{line}`",
        id: "tulis seperti ini: `{line}`",
    }
    AddLike {
        en: "add it, e.g. `{line}`",
        id: "tambahkan, mis. `{line}`",
    }
    WrongKind {
        en: "`{key}` must be {expected}, not {found}",
        id: "`{key}` harus berupa {expected}, bukan {found}",
    }
    WrongKindInList {
        en: "each item of `{key}` must be {expected}, not {found}",
        id: "setiap isi `{key}` harus berupa {expected}, bukan {found}",
    }
    WrongKindInTable {
        en: "each value of `{key}` must be {expected}, not {found}",
        id: "setiap nilai `{key}` harus berupa {expected}, bukan {found}",
    }
    NotOneOf {
        en: "`{key}` must be one of {choices}, not \"{found}\"",
        id: "`{key}` harus salah satu dari {choices}, bukan \"{found}\"",
    }
    NumberOutOfRange {
        en: "{number} is far out of range for `{key}`",
        id: "{number} jauh di luar jangkauan `{key}`",
    }
    QinqPairLength {
        en: "a QinQ pair has two VLAN ids, [outer, inner]; this one has {count}",
        id: "pasangan QinQ berisi dua VLAN id, [luar, dalam]; yang ini berisi {count}",
    }

    // What a key expects and what was found.
    ExpectText { en: "text in quotes", id: "teks dalam tanda kutip" }
    ExpectRate {
        en: "a rate in quotes with its unit",
        id: "kecepatan dalam tanda kutip beserta satuannya",
    }
    ExpectAmount {
        en: "a rate or a share of the capacity, in quotes",
        id: "kecepatan atau persen dari kapasitas, dalam tanda kutip",
    }
    ExpectDuration {
        en: "a duration in quotes with its unit",
        id: "lama waktu dalam tanda kutip beserta satuannya",
    }
    ExpectWeight {
        en: "a whole number from 1 to 1000",
        id: "bilangan bulat dari 1 sampai 1000",
    }
    ExpectWholeNumber {
        en: "a whole number from {min} to {max}",
        id: "bilangan bulat dari {min} sampai {max}",
    }
    ExpectPrice {
        en: "a price: a whole number above 0, digits only",
        id: "harga: bilangan bulat di atas 0, angka saja",
    }
    ExpectOneOf {
        en: "one of {choices} in quotes",
        id: "salah satu dari {choices} dalam tanda kutip",
    }
    ExpectVlanList {
        en: "a list of VLAN ids (numbers from 1 to 4094)",
        id: "daftar VLAN id (angka 1 sampai 4094)",
    }
    ExpectVlanId {
        en: "a VLAN id (a number from 1 to 4094)",
        id: "VLAN id (angka 1 sampai 4094)",
    }
    ExpectQinqList {
        en: "a list of [outer, inner] VLAN id pairs",
        id: "daftar pasangan VLAN id [luar, dalam]",
    }
    ExpectQinqPair {
        en: "a pair [outer, inner] of VLAN ids",
        id: "pasangan VLAN id [luar, dalam]",
    }
    ExpectTextList {
        en: "a list of texts in quotes",
        id: "daftar teks dalam tanda kutip",
    }
    ExpectTable {
        en: "a table `{ … }`",
        id: "tabel `{ … }`",
    }
    ExpectSiteTable {
        en: "one table written [site]",
        id: "satu tabel yang ditulis [site]",
    }
    ExpectTableList {
        en: "tables each written [[{key}]]",
        id: "tabel-tabel yang masing-masing ditulis [[{key}]]",
    }
    FoundText { en: "the text \"{value}\"", id: "teks \"{value}\"" }
    FoundNumber { en: "the number {value}", id: "angka {value}" }
    FoundBool { en: "{value}", id: "{value}" }
    FoundDatetime { en: "the date/time {value}", id: "tanggal/waktu {value}" }
    FoundList { en: "a list [ … ]", id: "daftar [ … ]" }
    FoundTable { en: "a table { … }", id: "tabel { … }" }
    FoundTableList {
        en: "a list of tables [[…]]",
        id: "daftar tabel [[…]]",
    }

    // Tables, as messages name them.
    TableRoot { en: "the file", id: "berkas ini" }
    TableSite { en: "[site]", id: "[site]" }
    TableCapacity { en: "`capacity`", id: "`capacity`" }
    TableCosts { en: "[site.costs]", id: "[site.costs]" }
    TableAgency { en: "[[agency]]", id: "[[agency]]" }
    TableLimit {
        en: "the agency's `{key}`",
        id: "`{key}` milik OPD",
    }
    TableSchedule { en: "[[agency.schedule]]", id: "[[agency.schedule]]" }
    TableOverride {
        en: "the schedule's `{key}`",
        id: "`{key}` milik jadwal",
    }

    // Rates, shares and durations.
    NoNumber {
        en: "\"{value}\" does not start with a number",
        id: "\"{value}\" tidak diawali angka",
    }
    NotANumber {
        en: "\"{number}\" in \"{value}\" is not a number",
        id: "\"{number}\" dalam \"{value}\" bukan angka",
    }
    Negative {
        en: "\"{value}\" is negative; a {what} cannot be negative",
        id: "\"{value}\" bernilai negatif; {what} tidak boleh negatif",
    }
    DecimalComma {
        en: "\"{value}\" has a decimal comma; write the decimal point: \"{fixed}\"",
        id: "\"{value}\" memakai koma desimal; tulis dengan titik desimal: \"{fixed}\"",
    }
    AmbiguousPoint {
        en: "\"{value}\" can be read two ways: write \"{thousands}\" (thousands) or \"{decimal}\" (a decimal)",
        id: "\"{value}\" dapat dibaca dua cara: tulis \"{thousands}\" (ribuan) atau \"{decimal}\" (desimal)",
    }
    ThousandsPoints {
        en: "\"{value}\" separates thousands with points; write the digits alone: \"{fixed}\"",
        id: "\"{value}\" memakai titik pemisah ribuan; tulis angkanya saja: \"{fixed}\"",
    }
    Exponent {
        en: "\"{value}\" is written with an exponent; write the digits and a unit, e.g. \"{fixed}\"",
        id: "\"{value}\" ditulis dengan eksponen; tulis angkanya beserta satuan, mis. \"{fixed}\"",
    }
    NoUnit {
        en: "\"{value}\" has no unit",
        id: "\"{value}\" tidak memiliki satuan",
    }
    InBytes {
        en: "\"{value}\": \"{unit}\" is ambiguous or in bytes; rates are in bits per second: \"{bits}\" (megabits) or \"{bytes}\" if you meant megabytes",
        id: "\"{value}\": \"{unit}\" bermakna ganda atau dalam byte; kecepatan ditulis dalam bit per detik: \"{bits}\" (megabit) atau \"{bytes}\" jika maksudnya megabyte",
    }
    UnitSpelling {
        en: "\"{value}\": write the unit as \"{unit}\"",
        id: "\"{value}\": tulis satuannya \"{unit}\"",
    }
    UnknownRateUnit {
        en: "\"{value}\": unknown unit \"{unit}\"; rates use bps, kbps, Mbps or Gbps",
        id: "\"{value}\": satuan \"{unit}\" tidak dikenal; kecepatan memakai bps, kbps, Mbps atau Gbps",
    }
    UnknownDurationUnit {
        en: "\"{value}\": unknown unit \"{unit}\"; durations use ms, s, m or h",
        id: "\"{value}\": satuan \"{unit}\" tidak dikenal; lama waktu memakai ms, s, m atau h",
    }
    RateRange {
        en: "\"{value}\" is out of range; rates run from 1bps to 1000Tbps",
        id: "\"{value}\" di luar jangkauan; kecepatan dari 1bps sampai 1000Tbps",
    }
    PercentRange {
        en: "\"{value}\" is out of range; a share of the uplink runs from above 0% to 100%",
        id: "\"{value}\" di luar jangkauan; bagian dari uplink lebih dari 0% sampai 100%",
    }
    DurationTooLong {
        en: "\"{value}\" is too long",
        id: "\"{value}\" terlalu lama",
    }
    WhatRate { en: "rate", id: "kecepatan" }
    WhatShare { en: "share", id: "persentase" }
    WhatDuration { en: "duration", id: "lama waktu" }

    // [site].
    SecondSite {
        en: "a second [site] table",
        id: "tabel [site] kedua",
    }
    SecondSiteHint {
        en: "the site is already defined at {place}; a policy has one [site]",
        id: "situs sudah ditulis di {place}; satu kebijakan hanya punya satu [site]",
    }
    NoSite {
        en: "the policy has no [site] table",
        id: "kebijakan tidak memiliki tabel [site]",
    }
    NoSiteHint {
        en: "add a file such as 00-site.toml with [site], `lan = \"eth1\"`, `wan = \"eth2\"` and `capacity = { upload = \"1Gbps\", download = \"1Gbps\" }`",
        id: "tambahkan berkas seperti 00-site.toml berisi [site], `lan = \"eth1\"`, `wan = \"eth2\"` dan `capacity = { upload = \"1Gbps\", download = \"1Gbps\" }`",
    }
    NoCapacity {
        en: "the site has no `capacity`",
        id: "situs tidak memiliki `capacity`",
    }
    CapacityHint {
        en: "the capacity is what was purchased, e.g. `capacity = { upload = \"500Mbps\", download = \"1Gbps\" }`",
        id: "kapasitas adalah yang dibeli dari ISP, mis. `capacity = { upload = \"500Mbps\", download = \"1Gbps\" }`",
    }
    HeadroomAll {
        en: "the headroom leaves nothing of the {dir} capacity of {rate}",
        id: "headroom menghabiskan seluruh kapasitas {dir} sebesar {rate}",
    }
    HeadroomHint {
        en: "headroom is what is kept free below the capacity, e.g. `headroom = \"2%\"`",
        id: "headroom adalah kapasitas yang disisakan di bawah kapasitas beli, mis. `headroom = \"2%\"`",
    }
    DurationRange {
        en: "`{key}` must be between {min} and {max}",
        id: "`{key}` harus antara {min} dan {max}",
    }
    ExpiryNotAboveTick {
        en: "`expiry` must be longer than `tick`, or every late tick would drop agencies to the fallback",
        id: "`expiry` harus lebih lama dari `tick`, agar tick yang terlambat tidak menjatuhkan OPD ke pembagian cadangan (fallback)",
    }
    UnknownTimeZone {
        en: "unknown time zone \"{value}\"",
        id: "zona waktu \"{value}\" tidak dikenal",
    }
    TimeZoneHint {
        en: "write `timezone = \"Asia/Jakarta\"` (or \"WIB\"), \"Asia/Makassar\" (\"WITA\"), \"Asia/Jayapura\" (\"WIT\"), or an offset like \"UTC+7\"",
        id: "tulis `timezone = \"Asia/Jakarta\"` (atau \"WIB\"), \"Asia/Makassar\" (\"WITA\"), \"Asia/Jayapura\" (\"WIT\"), atau selisih seperti \"UTC+7\"",
    }
    BadInterface {
        en: "\"{value}\" is not a valid interface name",
        id: "\"{value}\" bukan nama antarmuka (interface) yang benar",
    }
    SamePorts {
        en: "`lan` and `wan` are the same interface",
        id: "`lan` dan `wan` adalah antarmuka yang sama",
    }
    SamePortsHint {
        en: "the gateway sits between two ports: the agencies' trunk and the uplink, e.g. `lan = \"eth1\"` and `wan = \"eth2\"`",
        id: "gateway berada di antara dua port: trunk ke OPD dan uplink, mis. `lan = \"eth1\"` dan `wan = \"eth2\"`",
    }
    UnclassifiedNotAgency {
        en: "`unclassified` names \"{value}\", which is not an agency",
        id: "`unclassified` menyebut \"{value}\", yang bukan OPD",
    }
    UnclassifiedHint {
        en: "write `unclassified = \"pass\"`, \"drop\" or the id of an agency of this policy",
        id: "tulis `unclassified = \"pass\"`, \"drop\" atau id OPD dalam kebijakan ini",
    }
    TooManyAgencies {
        en: "{count} agencies; the data plane holds at most {max}",
        id: "{count} OPD; data plane paling banyak memuat {max}",
    }
    TooManyAgenciesHint {
        en: "join small agencies that share a VLAN plan into one, e.g. `vlans = [301, 302]`",
        id: "gabungkan OPD kecil menjadi satu, mis. `vlans = [301, 302]`",
    }
    WholeNumberRange {
        en: "`{key}` must be from {min} to {max}, not {value}",
        id: "`{key}` harus dari {min} sampai {max}, bukan {value}",
    }
    HostTableHint {
        en: "the host table holds one entry for each host of each agency, about 100 bytes each (65536 entries ≈ 6.5 MB), e.g. `host_table = {fits}`",
        id: "tabel host memuat satu entri untuk setiap host di setiap OPD, sekitar 100 byte per entri (65536 entri ≈ 6,5 MB), mis. `host_table = {fits}`",
    }
    HostIpv6PrefixHint {
        en: "IPv6 addresses that share this many first bits are one host: 64 (one /64) by default, 128 for each address, e.g. `host_ipv6_prefix = {fits}`",
        id: "alamat IPv6 yang sama pada sekian bit pertama dihitung satu host: 64 (satu /64) secara bawaan, 128 untuk setiap alamat, mis. `host_ipv6_prefix = {fits}`",
    }

    // [site.costs]: prices for the needs report.
    PriceNotPositive {
        en: "a price must be above 0, not {value}",
        id: "harga harus di atas 0, bukan {value}",
    }
    CurrencyEmpty {
        en: "`currency` is empty",
        id: "`currency` kosong",
    }
    PackageTwice {
        en: "package {rate} (\"{value}\") is priced twice in `package_per_year`",
        id: "paket {rate} (\"{value}\") diberi harga dua kali di `package_per_year`",
    }
    NoPackagePrice {
        en: "no price for package {rate} in [site.costs] package_per_year; the report leaves this agency's package price out",
        id: "tidak ada harga untuk paket {rate} di package_per_year [site.costs]; laporan tidak menyertakan harga paket OPD ini",
    }
    NoPackagePriceHint {
        en: "add its price per year to `package_per_year` in [site.costs], e.g. `\"{rate}\" = 60000000`",
        id: "tambahkan harga per tahunnya ke `package_per_year` di [site.costs], mis. `\"{rate}\" = 60000000`",
    }

    // [[agency]].
    BadAgencyId {
        en: "agency id \"{value}\" is not allowed",
        id: "id OPD \"{value}\" tidak diperbolehkan",
    }
    BadAgencyIdHint {
        en: "use lowercase letters, digits and '-', starting with a letter, e.g. `id = \"dinkes\"`; \"pass\" and \"drop\" are reserved",
        id: "pakai huruf kecil, angka dan '-', diawali huruf, mis. `id = \"dinkes\"`; \"pass\" dan \"drop\" sudah dipakai sistem",
    }
    WeightRange {
        en: "weight {value} is out of range",
        id: "weight {value} di luar jangkauan",
    }
    WeightHint {
        en: "weights run from 1 to 1000, e.g. `weight = 2`: a weight-2 agency borrows twice the share of a weight-1 one",
        id: "weight dari 1 sampai 1000, mis. `weight = 2`: OPD dengan weight 2 meminjam dua kali bagian OPD dengan weight 1",
    }
    VlanRange {
        en: "VLAN id {value} is out of range",
        id: "VLAN id {value} di luar jangkauan",
    }
    VlanRangeHint {
        en: "802.1Q VLAN ids run from 1 to 4094 (0 and 4095 are reserved), e.g. `vlans = [110]`",
        id: "VLAN id 802.1Q dari 1 sampai 4094 (0 dan 4095 dicadangkan), mis. `vlans = [110]`",
    }
    QinqRange {
        en: "QinQ pair [{outer}, {inner}] is out of range",
        id: "pasangan QinQ [{outer}, {inner}] di luar jangkauan",
    }
    QinqHint {
        en: "write [outer, inner] with both VLAN ids from 1 to 4094, e.g. `qinq = [[3000, 10]]`",
        id: "tulis [luar, dalam] dengan kedua VLAN id dari 1 sampai 4094, mis. `qinq = [[3000, 10]]`",
    }
    NoVlan {
        en: "agency \"{value}\" has no VLAN",
        id: "OPD \"{value}\" tidak memiliki VLAN",
    }
    NoVlanHint {
        en: "add `vlans = [110]` (or `qinq = [[3000, 10]]`) so its traffic can be recognised",
        id: "tambahkan `vlans = [110]` (atau `qinq = [[3000, 10]]`) agar lalu lintasnya dapat dikenali",
    }
    NotAPrefix {
        en: "\"{value}\" is not a prefix",
        id: "\"{value}\" bukan prefix",
    }
    PrefixHint {
        en: "write it as `prefixes = [\"198.18.10.0/24\"]`",
        id: "tulis seperti `prefixes = [\"198.18.10.0/24\"]`",
    }
    NotAnAddress {
        en: "\"{value}\" is not an IPv4 or IPv6 address",
        id: "\"{value}\" bukan alamat IPv4 atau IPv6",
    }
    PrefixLength {
        en: "prefix length \"/{value}\" is out of range (0–{max})",
        id: "panjang prefix \"/{value}\" di luar jangkauan (0–{max})",
    }
    PrefixMask {
        en: "\"/{value}\" is a netmask; a prefix gives its length: \"{fixed}\"",
        id: "\"/{value}\" adalah netmask; prefix ditulis dengan panjangnya: \"{fixed}\"",
    }
    HostBits {
        en: "\"{value}\" has host bits set; write \"{fixed}\"",
        id: "\"{value}\" masih berisi bit host; tulis \"{fixed}\"",
    }
    GuaranteeUnlimited {
        en: "a guarantee cannot be unlimited",
        id: "jaminan tidak boleh tak terbatas (unlimited)",
    }
    RateWithGuaranteed {
        en: "`rate` cannot be combined with `guaranteed` or `ceiling`",
        id: "`rate` tidak boleh digabung dengan `guaranteed` atau `ceiling`",
    }
    RateWithGuaranteedHint {
        en: "`rate = X` is short for guaranteed = ceiling = X; keep one form, e.g. `upload = { guaranteed = \"10Mbps\", ceiling = \"50Mbps\" }`",
        id: "`rate = X` adalah singkatan dari guaranteed = ceiling = X; pakai salah satu bentuk, mis. `upload = { guaranteed = \"10Mbps\", ceiling = \"50Mbps\" }`",
    }
    NoLimit {
        en: "no `guaranteed`, `ceiling` or `rate`",
        id: "tidak ada `guaranteed`, `ceiling` atau `rate`",
    }
    LimitHint {
        en: "e.g. `{key} = { guaranteed = \"10Mbps\", ceiling = \"50Mbps\" }`",
        id: "mis. `{key} = { guaranteed = \"10Mbps\", ceiling = \"50Mbps\" }`",
    }
    GuaranteeAboveCeiling {
        en: "the guarantee {guaranteed} is above the ceiling {ceiling}",
        id: "jaminan {guaranteed} melebihi batas atas {ceiling}",
    }
    GuaranteeAboveCeilingHint {
        en: "a guarantee is at most the ceiling; raise `ceiling` or lower `guaranteed`, e.g. `guaranteed = \"{ceiling}\"`",
        id: "jaminan paling besar sama dengan batas atas; naikkan `ceiling` atau turunkan `guaranteed`, mis. `guaranteed = \"{ceiling}\"`",
    }
    BurstRange {
        en: "`burst` must be longer than zero and at most 10s",
        id: "`burst` harus lebih dari nol dan paling lama 10s",
    }
    BurstHint {
        en: "`burst` is the depth of the bucket as time at the rate, e.g. `burst = \"100ms\"`",
        id: "`burst` adalah kedalaman bucket sebagai waktu pada kecepatan itu, mis. `burst = \"100ms\"`",
    }
    HostCeilingZero {
        en: "a host ceiling of \"{value}\" would let no host pass",
        id: "batas atas per host \"{value}\" tidak akan melewatkan host mana pun",
    }
    HostCeilingNone {
        en: "`host_ceiling` cannot be \"{value}\"",
        id: "`host_ceiling` tidak boleh \"{value}\"",
    }
    HostCeilingHint {
        en: "give the most one host may pass, e.g. `host_ceiling = \"5Mbps\"`, or leave `host_ceiling` out for no ceiling per host",
        id: "tulis kecepatan terbesar untuk satu host, mis. `host_ceiling = \"5Mbps\"`, atau hapus `host_ceiling` jika tanpa batas per host",
    }
    HostCeilingAboveCeiling {
        en: "the host ceiling {host_ceiling} is above the agency's ceiling {ceiling}: one host never passes more than its agency",
        id: "batas atas per host {host_ceiling} melebihi batas atas OPD {ceiling}: satu host tidak pernah melewatkan lebih dari OPD-nya",
    }
    HostCeilingAboveCeilingHint {
        en: "a host's ceiling is at most its agency's; lower `host_ceiling` or raise `ceiling`, e.g. `host_ceiling = \"{ceiling}\"`",
        id: "batas atas per host paling besar sama dengan batas atas OPD; turunkan `host_ceiling` atau naikkan `ceiling`, mis. `host_ceiling = \"{ceiling}\"`",
    }
    CeilingAboveUplink {
        en: "the {dir} ceiling of agency \"{agency}\", {ceiling}, is above the uplink's {capacity}: it can never be reached",
        id: "OPD \"{agency}\" memiliki batas atas {dir} {ceiling}, di atas kapasitas uplink {capacity}: tidak akan pernah tercapai",
    }
    CeilingAboveUplinkHint {
        en: "write what can be reached, e.g. `ceiling = \"{capacity}\"` or `ceiling = \"unlimited\"`",
        id: "tulis yang dapat dicapai, mis. `ceiling = \"{capacity}\"` atau `ceiling = \"unlimited\"`",
    }

    // [[agency.schedule]].
    ScheduleOverlap {
        en: "this schedule overlaps the one at {place} (both hold on {time})",
        id: "jadwal ini bertumpang tindih dengan jadwal di {place} (keduanya berlaku pada {time})",
    }
    ScheduleOverlapHint {
        en: "make the windows of one agency disjoint, e.g. `hours = \"07:00-12:00\"` and `hours = \"12:00-16:00\"`; at most one applies at a time",
        id: "buat jendela waktu satu OPD tidak bertumpang tindih, mis. `hours = \"07:00-12:00\"` dan `hours = \"12:00-16:00\"`; paling banyak satu berlaku pada satu waktu",
    }
    OverrideNothing {
        en: "this schedule's `{key}` changes nothing",
        id: "`{key}` pada jadwal ini tidak mengubah apa pun",
    }
    OverrideHint {
        en: "give `guaranteed` and/or `ceiling`, e.g. `{key} = { guaranteed = \"50Mbps\" }`",
        id: "isi `guaranteed` dan/atau `ceiling`, mis. `{key} = { guaranteed = \"50Mbps\" }`",
    }
    ScheduleAboveCeiling {
        en: "during this schedule the {dir} guarantee {guaranteed} is above the ceiling {ceiling}",
        id: "selama jadwal ini jaminan {dir} {guaranteed} melebihi batas atas {ceiling}",
    }
    ScheduleAboveCeilingHint {
        en: "a guarantee is at most the ceiling, also inside a schedule, e.g. `{key} = { guaranteed = \"{guaranteed}\", ceiling = \"{guaranteed}\" }`",
        id: "jaminan paling besar sama dengan batas atas, juga di dalam jadwal, mis. `{key} = { guaranteed = \"{guaranteed}\", ceiling = \"{guaranteed}\" }`",
    }
    ScheduleNothing {
        en: "this schedule changes nothing",
        id: "jadwal ini tidak mengubah apa pun",
    }
    ScheduleNothingHint {
        en: "add e.g. `download = { guaranteed = \"50Mbps\" }`",
        id: "tambahkan mis. `download = { guaranteed = \"50Mbps\" }`",
    }
    DaysEmpty {
        en: "`days` is empty",
        id: "`days` kosong",
    }
    DaysHint {
        en: "write e.g. `days = [\"mon-fri\"]`: mon, tue, wed, thu, fri, sat, sun, a range, \"weekdays\", \"weekend\" or \"daily\"",
        id: "tulis mis. `days = [\"mon-fri\"]`: mon, tue, wed, thu, fri, sat, sun, rentang, \"weekdays\", \"weekend\" atau \"daily\"",
    }
    UnknownDay {
        en: "unknown day \"{value}\"",
        id: "hari \"{value}\" tidak dikenal",
    }
    DayInIndonesian {
        en: "\"{value}\": days are written in English here: \"{fixed}\"",
        id: "\"{value}\": nama hari ditulis dalam bahasa Inggris di sini: \"{fixed}\"",
    }
    HoursWithDots {
        en: "\"{value}\": write the hours with a colon: \"{fixed}\"",
        id: "\"{value}\": tulis jam dengan titik dua: \"{fixed}\"",
    }
    DaysBackwards {
        en: "day range \"{value}\" runs backwards",
        id: "rentang hari \"{value}\" terbalik",
    }
    DaysBackwardsHint {
        en: "write a range from Monday towards Sunday, e.g. `days = [\"mon-fri\"]`, or two: `days = [\"fri-sun\", \"mon\"]`",
        id: "tulis rentang dari Senin ke arah Minggu, mis. `days = [\"mon-fri\"]`, atau dua: `days = [\"fri-sun\", \"mon\"]`",
    }
    NotAWindow {
        en: "\"{value}\" is not a time window",
        id: "\"{value}\" bukan jendela waktu",
    }
    HoursHint {
        en: "write it as `hours = \"07:30-16:00\"`; \"22:00-06:00\" runs past midnight",
        id: "tulis seperti `hours = \"07:30-16:00\"`; \"22:00-06:00\" melewati tengah malam",
    }
    NotATime {
        en: "\"{value}\" is not a time of day (00:00 to 24:00)",
        id: "\"{value}\" bukan jam (00:00 sampai 24:00)",
    }
    EmptyWindow {
        en: "\"{value}\" is an empty window; a schedule needs a start before its end",
        id: "\"{value}\" adalah jendela kosong; jadwal perlu jam mulai sebelum jam selesai",
    }

    // Across agencies.
    DuplicateId {
        en: "duplicate agency id \"{value}\"",
        id: "id OPD \"{value}\" ganda",
    }
    DuplicateIdHint {
        en: "\"{value}\" is already used at {place}; ids must be unique, e.g. `id = \"{value}-2\"`",
        id: "\"{value}\" sudah dipakai di {place}; id harus unik, mis. `id = \"{value}-2\"`",
    }
    VlanTaken {
        en: "VLAN {vlan} is already assigned to agency \"{agency}\"",
        id: "VLAN {vlan} sudah dipakai OPD \"{agency}\"",
    }
    VlanTakenHint {
        en: "see {place}; a VLAN belongs to one agency: give this one its own, e.g. `vlans = [{free}]`",
        id: "lihat {place}; satu VLAN hanya milik satu OPD: beri OPD ini VLAN sendiri, mis. `vlans = [{free}]`",
    }
    VlanTwice {
        en: "VLAN {vlan} is listed twice in this agency",
        id: "VLAN {vlan} tertulis dua kali di OPD ini",
    }
    ListedTwiceHint {
        en: "it is first listed at {place}; remove one",
        id: "pertama kali tertulis di {place}; hapus salah satunya",
    }
    QinqTaken {
        en: "QinQ pair [{outer}, {inner}] is already assigned to agency \"{agency}\"",
        id: "pasangan QinQ [{outer}, {inner}] sudah dipakai OPD \"{agency}\"",
    }
    QinqTwice {
        en: "QinQ pair [{outer}, {inner}] is listed twice in this agency",
        id: "pasangan QinQ [{outer}, {inner}] tertulis dua kali di OPD ini",
    }
    QinqTakenHint {
        en: "see {place}; a QinQ pair belongs to one agency: give this one its own, e.g. `qinq = [[{outer}, {free}]]`",
        id: "lihat {place}; satu pasangan QinQ hanya milik satu OPD: beri OPD ini pasangan sendiri, mis. `qinq = [[{outer}, {free}]]`",
    }
    PrefixOverlap {
        en: "prefix {prefix} overlaps {other} of agency \"{agency}\"",
        id: "prefix {prefix} bertumpang tindih dengan {other} milik OPD \"{agency}\"",
    }
    PrefixOverlapHint {
        en: "see {place}; an address belongs to one agency",
        id: "lihat {place}; satu alamat hanya milik satu OPD",
    }
    PrefixOverlapOwn {
        en: "prefix {prefix} overlaps {other}, also of this agency",
        id: "prefix {prefix} bertumpang tindih dengan {other}, juga milik OPD ini",
    }
    PrefixOverlapOwnHint {
        en: "see {place}; keep the wider one",
        id: "lihat {place}; pertahankan yang lebih luas",
    }
    GuaranteesOver {
        en: "the {dir} guarantees add up to {sum}{when}, above the {usable} that can be promised ({capacity} capacity minus {headroom} headroom)",
        id: "jumlah jaminan {dir} mencapai {sum}{when}, melebihi {usable} yang dapat dijanjikan (kapasitas {capacity} dikurangi headroom {headroom})",
    }
    GuaranteesOverHint {
        en: "lower some guarantees (largest: {top}), e.g. `guaranteed = \"{fits}\"` for \"{agency}\", or raise `capacity` if more was purchased",
        id: "turunkan sebagian jaminan (terbesar: {top}), mis. `guaranteed = \"{fits}\"` untuk \"{agency}\", atau naikkan `capacity` jika membeli lebih",
    }
    GuaranteesOverInWindow {
        en: "during this schedule the {dir} guarantees add up to {sum} on {time}, above the {usable} that can be promised ({capacity} capacity minus {headroom} headroom)",
        id: "selama jadwal ini jumlah jaminan {dir} mencapai {sum} pada {time}, melebihi {usable} yang dapat dijanjikan (kapasitas {capacity} dikurangi headroom {headroom})",
    }
    GuaranteesOverInWindowHint {
        en: "this window raises the guarantee of \"{agency}\" to {guaranteed}; at most {fits} fits, e.g. `{key} = { guaranteed = \"{fits}\" }` (largest at that time: {top})",
        id: "jadwal ini menaikkan jaminan \"{agency}\" menjadi {guaranteed}; paling besar {fits} yang muat, mis. `{key} = { guaranteed = \"{fits}\" }` (terbesar saat itu: {top})",
    }
    OnTime { en: " on {time}", id: " pada {time}" }

    // Small words.
    Upload { en: "upload", id: "unggah" }
    Download { en: "download", id: "unduh" }
    Or { en: "or", id: "atau" }
    Monday { en: "Monday", id: "Senin" }
    Tuesday { en: "Tuesday", id: "Selasa" }
    Wednesday { en: "Wednesday", id: "Rabu" }
    Thursday { en: "Thursday", id: "Kamis" }
    Friday { en: "Friday", id: "Jumat" }
    Saturday { en: "Saturday", id: "Sabtu" }
    Sunday { en: "Sunday", id: "Minggu" }
    WeekTime { en: "{day} {time}", id: "{day} {time}" }
    LineN { en: "line {line}", id: "baris {line}" }
    FileLine { en: "{file}:{line}", id: "{file}:{line}" }
}

/// One message with its values, shown in either language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    id: MsgId,
    args: Vec<(&'static str, Arg)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Text(String),
    /// Shown in the language of the message around it.
    Msg(Msg),
}

impl Msg {
    pub fn new(id: MsgId) -> Msg {
        Msg {
            id,
            args: Vec::new(),
        }
    }

    /// Fills `{name}` with a value shown as is (a number, a rate, a key).
    pub fn arg(mut self, name: &'static str, value: impl fmt::Display) -> Msg {
        self.args.push((name, Arg::Text(value.to_string())));
        self
    }

    /// Fills `{name}` with another message, shown in the same language.
    pub fn with(mut self, name: &'static str, value: Msg) -> Msg {
        self.args.push((name, Arg::Msg(value)));
        self
    }

    pub fn id(&self) -> MsgId {
        self.id
    }

    pub fn text(&self, lang: Lang) -> String {
        let template = self.id.template(lang);
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match placeholder(after) {
                Some(name) => {
                    match self.args.iter().find(|(n, _)| *n == name) {
                        Some((_, Arg::Text(t))) => out.push_str(t),
                        Some((_, Arg::Msg(m))) => out.push_str(&m.text(lang)),
                        None => {
                            debug_assert!(false, "{:?} is shown without {{{name}}}", self.id);
                            out.push_str(&rest[open..open + name.len() + 2]);
                        }
                    }
                    rest = &after[name.len() + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text(Lang::En))
    }
}

/// The name of a placeholder at the start of `s` (just after its `{`).
fn placeholder(s: &str) -> Option<&str> {
    let end = s.find('}')?;
    let name = &s[..end];
    (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    .then_some(name)
}

/// The placeholders of a text, sorted.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut names: Vec<&str> = template
        .match_indices('{')
        .filter_map(|(i, _)| placeholder(&template[i + 1..]))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// "Monday 07:30", in the message's language.
pub fn week_time(weekday: u8, minute: u16) -> Msg {
    const DAYS: [MsgId; 7] = [
        MsgId::Monday,
        MsgId::Tuesday,
        MsgId::Wednesday,
        MsgId::Thursday,
        MsgId::Friday,
        MsgId::Saturday,
        MsgId::Sunday,
    ];
    Msg::new(MsgId::WeekTime)
        .with("day", Msg::new(DAYS[weekday as usize % 7]))
        .arg("time", format!("{:02}:{:02}", minute / 60, minute % 60))
}

/// The word for a direction.
pub fn direction(dir: super::Direction) -> Msg {
    Msg::new(match dir {
        super::Direction::Upload => MsgId::Upload,
        super::Direction::Download => MsgId::Download,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_every_message_with_the_same_placeholders() {
        for id in MsgId::ALL {
            let en = id.template(Lang::En);
            let ind = id.template(Lang::Id);
            assert!(!en.trim().is_empty() && !ind.trim().is_empty(), "{id:?}");
            assert_eq!(placeholders(en), placeholders(ind), "{id:?}: {en} | {ind}");
        }
    }

    /// A hint shows a correct line (in backquotes), except those that point at the other
    /// line of a conflict, which stays as it is.
    #[test]
    fn hints_show_a_line() {
        const POINTERS: &[MsgId] = &[
            MsgId::DuplicateKeyHint,
            MsgId::DuplicateKeyNoPlaceHint,
            MsgId::ListedTwiceHint,
            MsgId::SecondSiteHint,
            MsgId::PrefixOverlapHint,
            MsgId::PrefixOverlapOwnHint,
        ];
        for id in MsgId::ALL {
            let name = format!("{id:?}");
            if !name.ends_with("Hint") || *id == MsgId::Hint || POINTERS.contains(id) {
                continue;
            }
            for lang in Lang::ALL {
                assert!(id.template(lang).contains('`'), "{name} in {lang:?}");
            }
        }
    }

    #[test]
    fn placeholders_are_filled_and_examples_kept() {
        let m = Msg::new(MsgId::LimitHint).arg("key", "upload");
        assert_eq!(
            m.text(Lang::En),
            "e.g. `upload = { guaranteed = \"10Mbps\", ceiling = \"50Mbps\" }`"
        );
        let m = Msg::new(MsgId::GuaranteesOver)
            .with("dir", Msg::new(MsgId::Download))
            .arg("sum", "1Gbps")
            .with(
                "when",
                Msg::new(MsgId::OnTime).with("time", week_time(4, 450)),
            )
            .arg("usable", "980Mbps")
            .arg("capacity", "1Gbps")
            .arg("headroom", "20Mbps");
        assert!(
            m.text(Lang::Id)
                .contains("unduh mencapai 1Gbps pada Jumat 07:30")
        );
        assert!(
            m.text(Lang::En)
                .contains("download guarantees add up to 1Gbps on Friday 07:30")
        );
    }

    #[test]
    fn language_from_the_locale() {
        assert_eq!(Lang::from_locale("id_ID.UTF-8"), Lang::Id);
        assert_eq!(Lang::from_locale("id"), Lang::Id);
        assert_eq!(Lang::from_locale("en_US.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale("C.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale(""), Lang::En);
        assert_eq!(Lang::parse("id"), Some(Lang::Id));
        assert_eq!(Lang::parse("fr"), None);
    }
}
