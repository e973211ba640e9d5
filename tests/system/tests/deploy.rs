//! The container image: `deploy/docker/Dockerfile` has a final stage for each of the five
//! services, and — when a container engine answers (`docker info` or `podman info`) — builds the
//! gateway's stage, whose image then runs `gateway help`. Without an engine the build is skipped
//! with a message (the machines this project is developed on have the docker client only).
//! The Kubernetes manifests that run these images are validated by `make lint`
//! (deploy/k8s/validate.sh), not here.

// Test code: a broken fixture stops the test (expect).
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The services, each a final stage of the Dockerfile and an image of deploy/k8s.
const SERVICES: [&str; 5] = [
    "gateway",
    "matching-worker",
    "resolution-worker",
    "ai-resolver",
    "webhook-sender",
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

fn dockerfile() -> String {
    std::fs::read_to_string(repo_root().join("deploy/docker/Dockerfile"))
        .expect("deploy/docker/Dockerfile is readable")
}

/// The lines of `stage` in the Dockerfile: from its `FROM … AS stage` to the next `FROM`.
fn stage(text: &str, stage: &str) -> Option<Vec<String>> {
    let mut lines = text.lines().skip_while(|line| {
        !(line.starts_with("FROM ") && line.trim_end().ends_with(&format!(" AS {stage}")))
    });
    lines.next()?;
    Some(
        lines
            .take_while(|line| !line.starts_with("FROM "))
            .map(str::to_owned)
            .collect(),
    )
}

#[test]
fn every_service_has_a_final_stage_that_runs_its_binary_as_the_concord_user() {
    let text = dockerfile();
    let runtime = stage(&text, "runtime").expect("a `runtime` stage");
    assert!(
        runtime.iter().any(|l| l.contains("--uid 10001"))
            && runtime.iter().any(|l| l.trim() == "USER concord"),
        "the runtime stage creates uid 10001 and runs as it (deploy/k8s runs the pods as 10001)"
    );
    for service in SERVICES {
        let lines = stage(&text, service).unwrap_or_default();
        assert!(
            text.contains(&format!("FROM runtime AS {service}")),
            "deploy/docker/Dockerfile has no final stage `FROM runtime AS {service}`"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("COPY --from=builder")
                && l.ends_with(&format!("/usr/local/bin/{service}"))),
            "the {service} stage copies its binary from the builder"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.trim() == format!("ENTRYPOINT [\"/usr/local/bin/{service}\"]")),
            "the {service} stage's entrypoint is its binary"
        );
        assert!(
            text.contains(&format!("target/release/{service}")),
            "the builder copies target/release/{service} out"
        );
    }
}

/// The first engine that answers `info`, if any.
fn container_engine() -> Option<&'static str> {
    ["docker", "podman"].into_iter().find(|engine| {
        Command::new(engine)
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

fn tail(output: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
fn the_dockerfile_builds_the_gateway_image() {
    let Some(engine) = container_engine() else {
        eprintln!(
            "no container engine answers (`docker info` and `podman info` failed): the image \
             build of deploy/docker/Dockerfile is skipped"
        );
        return;
    };
    let tag = format!("concord-gateway:system-test-{}", std::process::id());
    let build = Command::new(engine)
        .current_dir(repo_root())
        .args([
            "build",
            "-f",
            "deploy/docker/Dockerfile",
            "--target",
            "gateway",
            "-t",
        ])
        .arg(&tag)
        .arg(".")
        .output()
        .expect("the container engine runs");
    assert!(
        build.status.success(),
        "{engine} build --target gateway failed:\n{}",
        tail(&build)
    );
    let run = Command::new(engine)
        .args([
            "run",
            "--rm",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--user",
            "10001",
        ])
        .arg(&tag)
        .arg("help")
        .output()
        .expect("the container engine runs");
    let _ = Command::new(engine)
        .args(["image", "rm", "-f"])
        .arg(&tag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        run.status.success(),
        "`gateway help` failed in the image:\n{}",
        tail(&run)
    );
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("gateway migrate"),
        "`gateway help` lists `gateway migrate` (the migrations Job's command):\n{}",
        tail(&run)
    );
}
