//! Random container names in docker's `adjective_surname` style.

const LEFT: &[&str] = &[
    "admiring", "adoring", "affectionate", "amazing", "angry", "awesome", "blissful", "bold",
    "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending",
    "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy",
    "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting",
    "fervent", "festive", "flamboyant", "focused", "friendly", "frosty", "funny", "gallant",
    "gifted", "goofy", "gracious", "great", "happy", "hardcore", "heuristic", "hopeful",
    "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial",
    "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying",
    "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful",
    "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "recursing",
    "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic",
    "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled",
    "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial",
    "youthful", "zealous", "zen",
];

const RIGHT: &[&str] = &[
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "babbage", "banach",
    "bardeen", "bartik", "bassi", "bell", "benz", "bhabha", "black", "blackwell", "bohr",
    "booth", "borg", "bose", "boyd", "brahmagupta", "brattain", "brown", "carson", "cerf",
    "chandrasekhar", "chaplygin", "chatelet", "cohen", "colden", "cori", "curie", "darwin",
    "davinci", "dijkstra", "dirac", "easley", "einstein", "elion", "engelbart", "euclid",
    "euler", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg",
    "goldwasser", "goodall", "hamilton", "hawking", "heisenberg", "hermann", "hopper", "hypatia",
    "jackson", "jennings", "johnson", "kalam", "kepler", "khorana", "knuth", "kowalevski",
    "lalande", "lamarr", "lamport", "leakey", "lovelace", "lumiere", "mahavira", "mayer",
    "mccarthy", "mclean", "meitner", "mendel", "merkle", "minsky", "mirzakhani", "montalcini",
    "morse", "napier", "newton", "nobel", "noether", "pascal", "pasteur", "payne", "perlman",
    "pike", "poincare", "ramanujan", "ritchie", "rubin", "sammet", "shannon", "shaw", "sinoussi",
    "swartz", "tesla", "thompson", "torvalds", "turing", "varahamihira", "wescoff", "wiles",
    "williams", "wilson", "wing", "wozniak", "wright", "yalow", "yonath",
];

/// A fresh random name; `retry` > 0 appends a digit as docker does on a clash.
pub fn random_name(retry: u32) -> String {
    let l = LEFT[rand::random_range(0..LEFT.len())];
    let r = RIGHT[rand::random_range(0..RIGHT.len())];
    if retry > 0 {
        format!("{l}_{r}{}", rand::random_range(0..10))
    } else {
        format!("{l}_{r}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_valid_container_names() {
        for i in 0..50 {
            let n = super::random_name(i % 2);
            assert!(super::super::create::validate_name(&n).is_ok(), "{n}");
            assert!(n.contains('_'));
        }
    }
}
