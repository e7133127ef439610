//! Identities: an Ed25519 signing key plus an X25519 key-agreement key,
//! their public halves, and the fingerprint people compare out of band.
//!
//! No disk I/O here; the key file format lives in [`crate::keyfile`].

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};

/// Longest display name, in bytes. Short enough for a chat prefix.
pub const MAX_NAME_LEN: usize = 32;

const FINGERPRINT_LABEL: &[u8] = b"sotto/v1/fingerprint";

/// Why a display name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty or only whitespace.
    #[error("the name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    #[error("the name is longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    /// The name starts or ends with whitespace.
    #[error("the name starts or ends with a space")]
    Untrimmed,
    /// The name contains a character names may not contain: a control
    /// character, a format character (general category Cf: joiners, bidi
    /// controls, the soft hyphen...), a default-ignorable code point
    /// (variation selectors, fillers...) or a line or paragraph separator.
    #[error(
        "the name contains U+{:04X}, an invisible, control or formatting character that names may not contain",
        u32::from(*.0)
    )]
    NotAllowed(char),
    /// The name is not in Unicode normalization form NFKC.
    #[error("the name is not in Unicode normal form NFKC")]
    NotNormalized,
}

/// Checks a name exactly as it is, as names arriving from the network are
/// checked: printable, trimmed, short, in NFKC, and free of invisible and
/// formatting characters.
///
/// Two names that render alike must not be two different strings that
/// both pass: NFKC folds compatibility forms (full-width letters,
/// ligatures) and composed/decomposed accents into one spelling, and the
/// characters refused here render as nothing at all. Look-alikes that
/// survive both (Cyrillic "а" for Latin "a") are caught by comparing
/// [`name_skeleton`]s.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    if let Some(bad) = name.chars().find(|c| !allowed_in_name(*c)) {
        return Err(NameError::NotAllowed(bad));
    }
    if name.trim() != name {
        return Err(NameError::Untrimmed);
    }
    if !unicode_normalization::is_nfkc(name) {
        return Err(NameError::NotNormalized);
    }
    Ok(())
}

/// A name as typed (`sotto init --name`), brought to NFKC and then checked
/// with [`validate_name`]: what is returned is the name to use.
pub fn normalize_name(typed: &str) -> Result<String, NameError> {
    use unicode_normalization::UnicodeNormalization;
    // Refuse invisible characters before normalising, so the error names
    // the character the user typed rather than whatever NFKC made of it.
    if let Some(bad) = typed.chars().find(|c| !allowed_in_name(*c)) {
        return Err(NameError::NotAllowed(bad));
    }
    let name: String = typed.nfkc().collect();
    validate_name(&name)?;
    Ok(name)
}

/// Whether a character may appear in a name.
fn allowed_in_name(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    if c.is_ascii() {
        // No ASCII character is a format character or default-ignorable;
        // the common case skips the table look-ups on the receive path.
        return !c.is_ascii_control();
    }
    !c.is_control()
        && !matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
        && !is_default_ignorable(c)
}

/// Whether `c` is a default-ignorable code point (rendered as nothing when
/// unsupported: variation selectors, Hangul fillers, the combining
/// grapheme joiner, and every format character).
///
/// unicode-security does not export its table of them, but its UTS #39
/// skeleton drops exactly these after canonical decomposition, and no
/// other character decomposes or maps to nothing, so an empty skeleton of
/// one character is the same test with the crate's own data.
fn is_default_ignorable(c: char) -> bool {
    let mut buf = [0u8; 4];
    unicode_security::skeleton(c.encode_utf8(&mut buf))
        .next()
        .is_none()
}

/// The UTS #39 confusable skeleton of a name: two names with the same
/// skeleton can be rendered so that a reader cannot tell them apart
/// ("alice" and "аlice" with a Cyrillic "а", "bob" and "b0b" are not:
/// the skeleton maps "0" to "O", not "o"). Used to find look-alikes, never
/// shown.
pub fn name_skeleton(name: &str) -> String {
    unicode_security::skeleton(name).collect()
}

/// A user's secret keys. Both dalek types wipe themselves on drop, and
/// `Debug` prints only the public fingerprint.
pub struct Identity {
    signing: SigningKey,
    agreement: StaticSecret,
    /// Cached: deriving the X25519 public key costs a scalar
    /// multiplication, and every sealed payload carries the public half.
    public: PublicIdentity,
}

impl Identity {
    /// Generates a fresh identity.
    /// The name must already be valid ([`normalize_name`] makes a typed
    /// one so): it is not changed here.
    pub fn generate<R: CryptoRng + ?Sized>(name: &str, rng: &mut R) -> Result<Self, NameError> {
        validate_name(name)?;
        let signing = SigningKey::generate(rng);
        let agreement = StaticSecret::random_from_rng(rng);
        Ok(Self::from_keys(name.to_owned(), signing, agreement))
    }

    fn from_keys(name: String, signing: SigningKey, agreement: StaticSecret) -> Self {
        let public = PublicIdentity {
            name,
            signing: signing.verifying_key().to_bytes(),
            agreement: X25519Public::from(&agreement).to_bytes(),
        };
        Self {
            signing,
            agreement,
            public,
        }
    }

    /// Rebuilds an identity from its secret parts (as stored in a key file).
    pub fn from_secrets(name: String, signing_seed: &[u8; 32], agreement: [u8; 32]) -> Self {
        Self::from_keys(
            name,
            SigningKey::from_bytes(signing_seed),
            StaticSecret::from(agreement),
        )
    }

    /// The display name chosen at `init`.
    pub fn name(&self) -> &str {
        &self.public.name
    }

    /// The public half, safe to publish.
    pub fn public(&self) -> PublicIdentity {
        self.public.clone()
    }

    /// This identity's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.public().fingerprint()
    }

    /// Signs `message`. Callers prefix a domain-separation label.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    /// The X25519 secret, for opening things sealed to this member.
    pub fn agreement_secret(&self) -> &StaticSecret {
        &self.agreement
    }

    /// The Ed25519 seed, for writing the key file.
    pub(crate) fn signing_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.signing.to_bytes())
    }

    /// The X25519 secret bytes, for writing the key file.
    pub(crate) fn agreement_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.agreement.to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.public.name)
            .field("fingerprint", &self.fingerprint())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

/// The public half of an identity: what members learn about each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIdentity {
    /// Display name (untrusted when it comes from the network).
    pub name: String,
    /// Ed25519 verifying key.
    #[serde(with = "crate::hex::array")]
    pub signing: [u8; 32],
    /// X25519 public key.
    #[serde(with = "crate::hex::array")]
    pub agreement: [u8; 32],
}

impl PublicIdentity {
    /// The fingerprint over both public keys (the name is not included, so
    /// a fingerprint names keys, not people).
    pub fn fingerprint(&self) -> Fingerprint {
        let mut hash = Sha256::new();
        hash.update(FINGERPRINT_LABEL);
        hash.update(self.signing);
        hash.update(self.agreement);
        Fingerprint(hash.finalize().into())
    }

    /// The Ed25519 key, if the bytes are a valid, non-weak point.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.signing)
            .ok()
            .filter(|key| !key.is_weak())
    }

    /// The X25519 public key.
    pub fn agreement_key(&self) -> X25519Public {
        X25519Public::from(self.agreement)
    }
}

/// SHA-256 over a label and both public keys. Shown to people as six
/// groups of five digits (about 100 bits, like one half of a Signal safety
/// number); stored and compared in full.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fingerprint(#[serde(with = "crate::hex::array")] pub [u8; 32]);

/// How many 5-digit groups a displayed fingerprint has.
pub const FINGERPRINT_GROUPS: usize = 6;

/// How many digits a whole fingerprint has.
pub const FINGERPRINT_DIGITS: usize = FINGERPRINT_GROUPS * 5;

/// Why typed text cannot be a fingerprint at all (as opposed to being
/// another key's fingerprint).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintTextError {
    /// A character that is neither a digit nor a separator.
    #[error(
        "that is not a fingerprint: it contains {0:?}, and fingerprints are digits in groups of five (spaces or hyphens may separate them); copy it again"
    )]
    NotADigit(char),
    /// Too few or too many digits.
    #[error(
        "that is not a whole fingerprint: it has {count} digit{plural} where a fingerprint has {FINGERPRINT_DIGITS} (six groups of five); copy it again",
        count = .0,
        plural = if *.0 == 1 { "" } else { "s" }
    )]
    WrongLength(usize),
}

/// Checks that `typed` has the shape of a fingerprint: thirty digits,
/// optionally separated by spaces or hyphens. A mistake here is a typo,
/// not a different key, and is said so before comparing.
pub fn check_typed_fingerprint(typed: &str) -> Result<(), FingerprintTextError> {
    typed_digits(typed).map(drop)
}

fn typed_digits(typed: &str) -> Result<String, FingerprintTextError> {
    let mut digits = String::with_capacity(FINGERPRINT_DIGITS);
    for c in typed.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '-' => {}
            c if c.is_whitespace() => {}
            c => return Err(FingerprintTextError::NotADigit(c)),
        }
    }
    if digits.len() != FINGERPRINT_DIGITS {
        return Err(FingerprintTextError::WrongLength(digits.len()));
    }
    Ok(digits)
}

impl Fingerprint {
    /// The digits people read aloud, grouped: `12345 67890 ...`.
    pub fn digits(&self) -> [u32; FINGERPRINT_GROUPS] {
        let mut groups = [0u32; FINGERPRINT_GROUPS];
        for (group, chunk) in groups.iter_mut().zip(self.0.chunks_exact(5)) {
            let mut wide = [0u8; 8];
            wide[3..].copy_from_slice(chunk);
            // 40 bits mod 10^5: the bias is below 2^-23, irrelevant here.
            *group = (u64::from_be_bytes(wide) % 100_000) as u32;
        }
        groups
    }

    /// Whether `typed` (digits, with any spacing or dashes) is this
    /// fingerprint's displayed form. Anything [`check_typed_fingerprint`]
    /// refuses matches nothing.
    pub fn matches_typed(&self, typed: &str) -> bool {
        let Ok(typed) = typed_digits(typed) else {
            return false;
        };
        let ours: String = self.digits().iter().map(|g| format!("{g:05}")).collect();
        typed == ours
    }

    /// Lowercase hex of the full 32 bytes, for file names and map keys.
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.digits().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{group:05}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn typed_fingerprints_are_checked_for_shape_before_comparing() {
        let mut rng = rand::rng();
        let id = Identity::generate("alice", &mut rng).unwrap();
        let shown = id.fingerprint().to_string();
        assert_eq!(check_typed_fingerprint(&shown), Ok(()));
        assert!(id.fingerprint().matches_typed(&shown));
        assert!(id.fingerprint().matches_typed(&shown.replace(' ', "-")));
        assert!(id.fingerprint().matches_typed(&shown.replace(' ', "")));
        assert_eq!(
            check_typed_fingerprint(&shown[..29]),
            Err(FingerprintTextError::WrongLength(25))
        );
        assert_eq!(
            check_typed_fingerprint(&format!("{shown} 1")),
            Err(FingerprintTextError::WrongLength(31))
        );
        let with_o = shown.replacen('0', "O", 1);
        if with_o != shown {
            assert_eq!(
                check_typed_fingerprint(&with_o),
                Err(FingerprintTextError::NotADigit('O'))
            );
            assert!(!id.fingerprint().matches_typed(&with_o));
        }
        assert!(!id.fingerprint().matches_typed(&format!("{shown}x")));
        let said = FingerprintTextError::WrongLength(24).to_string();
        assert!(said.contains("24 digits") && said.contains("30"), "{said}");
    }

    use super::*;
    use ed25519_dalek::Verifier;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn alice() -> Identity {
        Identity::generate("alice", &mut ChaCha20Rng::seed_from_u64(1)).unwrap()
    }

    #[test]
    fn fingerprint_shows_six_groups_of_five_digits() {
        let shown = alice().fingerprint().to_string();
        let groups: Vec<&str> = shown.split(' ').collect();
        assert_eq!(groups.len(), 6);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        );
    }

    #[test]
    fn fingerprint_matches_typed_forms_and_rejects_others() {
        let fp = alice().fingerprint();
        let shown = fp.to_string();
        assert!(fp.matches_typed(&shown));
        assert!(fp.matches_typed(&shown.replace(' ', "")));
        assert!(fp.matches_typed(&shown.replace(' ', "-")));
        let mut wrong: Vec<u8> = shown.into_bytes();
        wrong[0] = if wrong[0] == b'9' { b'0' } else { wrong[0] + 1 };
        assert!(!fp.matches_typed(&String::from_utf8(wrong).unwrap()));
        assert!(!fp.matches_typed(""));
    }

    #[test]
    fn emoji_sequences_with_joiners_are_refused_in_names() {
        // Message text keeps these (see sanitize::message_text); a name
        // never does: two names must not differ only in invisible parts.
        assert_eq!(
            validate_name("dev👩\u{200d}💻"),
            Err(NameError::NotAllowed('\u{200d}'))
        );
        assert_eq!(
            normalize_name("❤\u{fe0f}"),
            Err(NameError::NotAllowed('\u{fe0f}'))
        );
        assert_eq!(
            normalize_name("🏴\u{e0067}\u{e0062}\u{e007f}"),
            Err(NameError::NotAllowed('\u{e0067}'))
        );
        // Emoji without joiners are fine.
        assert_eq!(normalize_name("dana 🎉").as_deref(), Ok("dana 🎉"));
    }

    #[test]
    fn fingerprint_covers_both_keys_but_not_the_name() {
        let public = alice().public();
        let mut renamed = public.clone();
        renamed.name = "mallory".into();
        assert_eq!(public.fingerprint(), renamed.fingerprint());
        let mut other_dh = public.clone();
        other_dh.agreement[0] ^= 1;
        assert_ne!(public.fingerprint(), other_dh.fingerprint());
    }

    #[test]
    fn signatures_verify_with_the_public_half() {
        let id = alice();
        let sig = id.sign(b"msg");
        let key = id.public().verifying_key().unwrap();
        assert!(key.verify(b"msg", &sig).is_ok());
        assert!(key.verify_strict(b"other", &sig).is_err());
    }

    #[test]
    fn weak_signing_keys_are_refused() {
        let mut public = alice().public();
        // The identity point is a valid encoding but a weak (small-order) key.
        public.signing = [0; 32];
        public.signing[0] = 1;
        assert!(public.verifying_key().is_none());
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("alice").is_ok());
        assert_eq!(validate_name(" "), Err(NameError::Empty));
        assert_eq!(validate_name(&"x".repeat(33)), Err(NameError::TooLong));
        assert_eq!(
            validate_name("a\x1b[2J"),
            Err(NameError::NotAllowed('\x1b'))
        );
        assert_eq!(validate_name(" alice"), Err(NameError::Untrimmed));
    }

    #[test]
    fn ordinary_names_in_any_script_pass() {
        for name in [
            "alice",
            "Ann Lee",
            "O'Brien-Smith",
            "bob 2",
            "Zoë",
            "Саша",
            "李小龍",
            "محمد",
            "🦀 crab",
        ] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
            assert_eq!(normalize_name(name).as_deref(), Ok(name), "{name}");
        }
    }

    #[test]
    fn invisible_and_formatting_characters_are_refused() {
        for bad in [
            '\u{00ad}',  // soft hyphen (Cf)
            '\u{034f}',  // combining grapheme joiner (default-ignorable, Mn)
            '\u{061c}',  // Arabic letter mark
            '\u{115f}',  // Hangul choseong filler (default-ignorable, Lo)
            '\u{180e}',  // Mongolian vowel separator
            '\u{200b}',  // zero width space
            '\u{200c}',  // zero width non-joiner
            '\u{200d}',  // zero width joiner
            '\u{200e}',  // left-to-right mark
            '\u{2028}',  // line separator (Zl)
            '\u{2029}',  // paragraph separator (Zp)
            '\u{202e}',  // right-to-left override
            '\u{2060}',  // word joiner
            '\u{2066}',  // left-to-right isolate
            '\u{3164}',  // Hangul filler
            '\u{fe0f}',  // variation selector 16
            '\u{feff}',  // zero width no-break space
            '\u{e0001}', // language tag
            '\u{e0100}', // variation selector 17
            '\u{0085}',  // next line (Cc)
        ] {
            let name = format!("al{bad}ice");
            assert_eq!(
                validate_name(&name),
                Err(NameError::NotAllowed(bad)),
                "U+{:04X}",
                u32::from(bad)
            );
            assert_eq!(normalize_name(&name), Err(NameError::NotAllowed(bad)));
        }
        let said = NameError::NotAllowed('\u{2060}').to_string();
        assert!(said.contains("U+2060"), "{said}");
    }

    #[test]
    fn names_are_nfkc_and_typed_names_are_brought_to_it() {
        // Decomposed e + combining acute, full-width letters, a ligature.
        for (typed, normal) in [
            ("Zoe\u{301}", "Zoé"),
            ("ａｌｉｃｅ", "alice"),
            ("\u{fb01}ona", "fiona"),
        ] {
            assert_eq!(validate_name(typed), Err(NameError::NotNormalized));
            assert_eq!(normalize_name(typed).as_deref(), Ok(normal));
        }
        // Normalising can make a name too long: still refused.
        assert_eq!(
            normalize_name(&"\u{fdfa}".repeat(2)),
            Err(NameError::TooLong)
        );
    }

    #[test]
    fn look_alike_names_share_a_skeleton_and_others_do_not() {
        let alice = name_skeleton("alice");
        assert_eq!(name_skeleton("\u{430}lice"), alice); // Cyrillic а
        assert_eq!(name_skeleton("alic\u{435}"), alice); // Cyrillic е
        assert_eq!(name_skeleton("aIice"), alice); // capital I for l
        assert_ne!(name_skeleton("alicia"), alice);
        assert_ne!(name_skeleton("Alice"), alice);
        assert_ne!(name_skeleton("bob"), name_skeleton("b0b"));
    }

    #[test]
    fn the_test_identities_have_valid_names() {
        for file in ["alice.pub.json", "bob.pub.json"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("keys")
                .join(file);
            let text = std::fs::read_to_string(path).unwrap();
            let public: PublicIdentity = serde_json::from_str(&text).unwrap();
            assert_eq!(validate_name(&public.name), Ok(()), "{file}");
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", alice());
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("signing_seed"));
    }
}
