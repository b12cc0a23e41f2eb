//! A real server that cannot bind its port because another process holds it: the healer
//! waits until the holder is gone, then restarts it.

use qcity_config::HealSpec;
use qcity_testkit::*;
use qcity_types::HealStep;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_waited_out_then_the_server_restarts() {
    let port = free_port();
    let serve = format!(
        "require('net').createServer().listen({port}, '127.0.0.1', () => console.log('listening'))"
    );
    // The holder: the same server, started first.
    let mut holder = std::process::Command::new("node")
        .args(["-e", &serve])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    eventually("the holder listens", || {
        std::net::TcpStream::connect(&addr).is_ok()
    })
    .await;
    let r = healing(
        "server",
        &format!("exec node -e \"{serve}\""),
        HealSpec::default(),
    );
    let mut h = Healing::start(vec![r]).await;
    wait_step(&mut h, "server", HealStep::Applying, 0).await;
    let s = steps(&h, "server");
    assert!(s[0].2.contains("port-in-use"), "{s:?}");
    assert_eq!(s[1].1, "port-in-use", "{s:?}");
    assert!(
        s[1].2
            .starts_with(&format!("wait until {addr} is free, then restart")),
        "{s:?}"
    );
    // The healer waits while the holder is there; once it is gone the server comes back.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(
        !steps(&h, "server")
            .iter()
            .any(|x| x.0 == HealStep::Validated),
        "not validated while the port is taken"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    wait_step(&mut h, "server", HealStep::Validated, 0).await;
    let pid = h.wait_running("server").await;
    assert!(alive(pid));
    h.engine.shutdown("test").await;
}
