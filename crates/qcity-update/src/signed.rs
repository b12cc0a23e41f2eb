//! The version a release's signature vouches for. The manifest itself is not signed, so a
//! changed manifest could pair a new version number with an old, validly signed file (a
//! downgrade). The signature's trusted comment is signed with the file, so it must name the
//! version (`version:X.Y.Z`, as Tauri's `requireSignedVersion` wants it).

use base64::Engine as _;

/// The `.minisig` text of a manifest's `signature`: given as is, or base64 of it (what the
/// Tauri signer's `.sig` files hold).
pub fn minisig_text(signature: &str) -> Result<String, String> {
    let trimmed = signature.trim();
    if trimmed.starts_with("untrusted comment:") {
        return Ok(trimmed.to_string());
    }
    let compact: String = trimmed.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "the signature is neither minisign's text nor base64 of it".to_string())?;
    String::from_utf8(bytes).map_err(|_| "the signature's base64 is not minisign's text".into())
}

/// The `version:` its trusted comment names; `Err` when it names none. Whether the comment
/// is authentic is proven with the file ([`qcity_installer::verify::verify_file`]).
pub fn signed_version(minisig: &str) -> Result<String, String> {
    let comment = qcity_installer::verify::trusted_comment(minisig).map_err(|e| e.to_string())?;
    comment
        .split_whitespace()
        .find_map(|t| t.strip_prefix("version:"))
        .map(|v| v.trim_start_matches('v').to_string())
        .ok_or_else(|| {
            "the signature's trusted comment names no `version:`, so the version in the \
             manifest is not vouched for (sign with the version in the trusted comment)"
                .into()
        })
}

/// `Ok` when the signature's trusted comment names `version`; the refusal says what it
/// names instead.
pub fn vouches_for(minisig: &str, version: &str) -> Result<(), crate::UpdateError> {
    let signed = signed_version(minisig).map_err(crate::UpdateError::Refused)?;
    if signed == version {
        Ok(())
    } else {
        Err(crate::UpdateError::Refused(format!(
            "the manifest says {version} but the file's signature vouches for {signed}"
        )))
    }
}
