//! The secrets against a real Secret Service (gnome-keyring-daemon on a private bus) and the
//! real environment.
//!
//! One test in this binary, on purpose: the keyring crate finds the bus only through this
//! process's DBUS_SESSION_BUS_ADDRESS, and changing the environment is sound only while no
//! other thread reads it, which a second test running in parallel would.

use qcity_config::secret_ref::SecretRef;
use qcity_secrets::SecretError;
use qcity_secrets::testing::PrivateKeyring;

#[test]
fn secrets_round_trip_through_a_real_keyring_and_the_environment() {
    // SAFETY: the only test of this binary, and nothing else runs yet: no thread reads the
    // environment while it changes.
    unsafe {
        std::env::set_var("QCITY_TEST_TOKEN", "from-env");
        std::env::set_var("QCITY_TEST_EMPTY", "");
    }
    environment_variables_are_read();

    let Some(keyring) = PrivateKeyring::start_or_skip() else {
        return;
    };
    // SAFETY: as above; the keyring's daemons are other processes.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", keyring.address()) };
    keyring_set_read_remove(&keyring);
}

fn environment_variables_are_read() {
    let env = |n: &str| qcity_secrets::read(&SecretRef::Env(n.into()));
    assert_eq!(env("QCITY_TEST_TOKEN").unwrap(), "from-env");
    let e = env("QCITY_TEST_EMPTY").unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable `QCITY_TEST_EMPTY` is empty"
    );
    let e = env("QCITY_TEST_UNSET").unwrap_err();
    assert!(matches!(e, SecretError::EnvNotSet { .. }), "{e}");
}

fn keyring_set_read_remove(keyring: &PrivateKeyring) {
    let name = "slack-ops";
    let r = SecretRef::Keyring(name.into());
    let e = qcity_secrets::read(&r).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no secret `slack-ops` in the OS keyring: store it with `qcity secret set slack-ops`"
    );

    qcity_secrets::set(name, "xoxb-first").unwrap();
    qcity_secrets::set(name, "xoxb-s3cret").unwrap();
    assert_eq!(qcity_secrets::read(&r).unwrap(), "xoxb-s3cret");
    // libsecret finds it too: the value is in the real store, not the keyring crate's mock,
    // and the second set replaced the first rather than adding an entry.
    assert_eq!(keyring.lookup(name).as_deref(), Some("xoxb-s3cret"));

    assert!(qcity_secrets::remove(name).unwrap());
    assert_eq!(keyring.lookup(name), None);
    assert!(
        !qcity_secrets::remove(name).unwrap(),
        "removing twice is no error"
    );
    let e = qcity_secrets::read(&r).unwrap_err();
    assert!(matches!(e, SecretError::NotInKeyring { .. }), "{e}");
    assert!(e.to_string().contains("`slack-ops`"), "{e}");
}
