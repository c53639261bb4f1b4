//! `denoise-lab train` never loses a run: periodic checkpoints, a checkpoint on Ctrl-C (exit
//! code 130) and on divergence (the last good weights), every one written atomically. Runs the
//! built binary on tiny models (4 channels, L = 4, batch 8), so each test takes a few seconds.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use denoise_lab::backend;
use denoise_lab::checkpoint::{self, Meta};
use denoise_lab::error::{write_atomic_with, write_file};
use denoise_lab::export::torch_tensors;

/// A fresh, empty folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `denoise-lab train` on a tiny denoiser, writing `out`, with extra arguments.
fn train(out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_denoise-lab"));
    cmd.args(["train", "-L", "4", "--channels", "4", "--batch", "8", "--out"]).arg(out).args(extra);
    cmd
}

/// The checkpoint at `path` loads, and its weights are finite.
fn load(path: &Path) -> Meta {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (model, meta) = checkpoint::load_model(&bytes, &backend::cpu()).expect("the checkpoint loads");
    let weights = torch_tensors(&model).unwrap();
    assert!(weights.iter().all(|t| t.values.iter().all(|v| v.is_finite())), "finite weights");
    meta
}

fn wait_for(what: &str, child: &mut Child, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("train exited ({status}) before {what}");
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no {what} after 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn periodic_checkpoints_appear_and_load_while_training_runs() {
    let dir = scratch("periodic");
    let out = dir.join("run.ckpt");
    let mut child =
        train(&out, &["--steps", "1000000", "--checkpoint-every", "5", "--checkpoint-minutes", "0"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    wait_for("a periodic checkpoint", &mut child, || out.exists());
    let meta = load(&out);
    assert!(meta.step > 0 && meta.step.is_multiple_of(5), "saved every 5 steps, got step {}", meta.step);
    assert_eq!((meta.config.levels, meta.config.base_channels), (4, 4));
    // A hard kill (no chance to save) at any moment leaves the last checkpoint whole.
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let last = load(&out);
    assert!(last.step >= meta.step && last.step.is_multiple_of(5), "step {}", last.step);
}

#[test]
fn checkpoints_by_wall_time_alone_keep_coming() {
    // Only the time rule (0.01 minutes = 0.6 s, no step rule): a checkpoint appears, then a newer
    // one replaces it while training goes on.
    let dir = scratch("minutes");
    let out = dir.join("run.ckpt");
    let mut child =
        train(&out, &["--steps", "1000000", "--checkpoint-every", "0", "--checkpoint-minutes", "0.01"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    wait_for("a checkpoint by time", &mut child, || out.exists());
    let first = load(&out).step;
    assert!(first > 0, "the first timed checkpoint is of a trained model (step {first})");
    wait_for("a newer checkpoint by time", &mut child, || load(&out).step > first);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(load(&out).step > first);
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_exits_with_130() {
    stopped_by_signal("INT");
}

/// A terminal closed (SIGHUP) or a `kill` (SIGTERM, as a job scheduler or a container stop sends)
/// saves like Ctrl-C: ctrlc's `termination` feature routes both to the same handler.
#[test]
fn sigterm_and_sighup_save_a_checkpoint_as_ctrl_c_does() {
    stopped_by_signal("TERM");
    stopped_by_signal("HUP");
}

fn stopped_by_signal(signal: &str) {
    let dir = scratch(&format!("sig{}", signal.to_lowercase()));
    let out = dir.join("run.ckpt");
    let mut child =
        train(&out, &["--steps", "1000000", "--checkpoint-every", "0", "--checkpoint-minutes", "0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("training a denoiser") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "train ended before training");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(!out.exists(), "no checkpoint before the interrupt (periodic saves are off)");
    let kill = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exit code after SIG{signal}; stderr:\n{rest}");
    let step: u64 = rest
        .split("interrupted at step ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 'interrupted at step N' in:\n{rest}"));
    assert_eq!(load(&out).step, step, "the checkpoint holds the step the run stopped at");
}

#[test]
fn divergence_saves_the_last_good_weights() {
    let dir = scratch("diverge");
    let out = dir.join("run.ckpt");
    let run = train(&out, &["--steps", "300", "--lr", "50", "--clip", "0", "--checkpoint-every", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "lr = 50 without clipping diverges; stderr:\n{stderr}");
    assert!(stderr.contains("training diverged at step"), "{stderr}");
    let step: u64 = stderr
        .split("the last good weights (step ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no 'last good weights (step N)' in:\n{stderr}"));
    let meta = load(&out);
    assert_eq!(meta.step, step);
    assert!(meta.history.iter().all(|s| s.step <= step && s.loss.is_finite()));
}

#[test]
fn a_failed_write_keeps_the_old_file_whole() {
    let dir = scratch("atomic");
    let path = dir.join("run.ckpt");
    write_file(&path, b"the old checkpoint").unwrap();
    // The process "crashes" half way through the new content.
    let err = write_atomic_with(&path, |f| {
        f.write_all(b"the new che")?;
        Err(std::io::Error::other("simulated crash"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("simulated crash") && err.to_string().contains("run.ckpt"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"the old checkpoint");
    let files = || std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>();
    assert_eq!(files(), ["run.ckpt"], "no temporary file left behind");
    // A temporary file left by a process killed mid-write does not touch the target either,
    // and the next write replaces the whole file.
    std::fs::write(dir.join(".run.ckpt.tmp-1"), b"half").unwrap();
    write_file(&path, b"the new checkpoint").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"the new checkpoint");
    // A path that names no file is an error, not a panic.
    assert!(write_file(Path::new(""), b"x").is_err(), "an empty path is refused");
}

/// `denoise-lab lesson NAME --load tests/fixtures` gives the outcome the quiz's solution predicts,
/// decided from the figures it measured on the bundled checkpoints (the files the page bundles).
/// Two lessons here, one with two trained models: every lesson's verdict is checked on the page
/// (tests/browser/lessons.test.mjs), and `judge` itself by src/lesson.rs's tests; the lessons
/// with Φ* take tens of seconds each in this build.
#[test]
fn the_lesson_command_s_measured_verdict_is_the_quiz_s_answer() {
    for lesson in ["collapse", "few-levels"].map(|n| denoise_lab::lesson::by_name(n).unwrap()) {
        let out = Command::new(env!("CARGO_BIN_EXE_denoise-lab"))
            .args(["lesson", lesson.name, "--load", "tests/fixtures", "-n", "48", "--json"])
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "lesson {}: {stdout}", lesson.name);
        let json: serde_json::Value = serde_json::from_str(&stdout[stdout.find("\n{").unwrap()..]).unwrap();
        let verdict = &json["verdict"];
        eprintln!("{}: {} ({})", lesson.name, verdict["choice"], verdict["text"]);
        assert_eq!(verdict["choice"], lesson.quiz_answer, "lesson {}: {}", lesson.name, verdict["text"]);
        assert!(
            verdict["text"].as_str().unwrap().chars().any(|c| c.is_ascii_digit()),
            "the verdict gives figures"
        );
    }
}

/// `train --resume` takes a new --lr and --clip (the way out of a divergence the CLI suggests)
/// and refuses a model flag that differs from the checkpoint's instead of dropping it.
#[test]
fn resume_applies_lr_and_clip_and_refuses_another_architecture() {
    let dir = scratch("resume");
    let out = dir.join("run.ckpt");
    let first = train(&out, &["--steps", "5"]).output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let before = load(&out).config;
    assert_eq!((before.lr, before.clip_norm), (2e-3, 1.0));

    let mut resume = Command::new(env!("CARGO_BIN_EXE_denoise-lab"));
    resume.args(["train", "--resume"]).arg(&out).arg("--out").arg(&out);
    let run = resume.args(["--steps", "5", "--lr", "0.0005", "--clip", "0.25"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("resuming with --lr 0.0005 (the checkpoint's was 0.002)"), "{stderr}");
    assert!(stderr.contains("resuming with --clip 0.25 (the checkpoint's was 1)"), "{stderr}");
    let after = load(&out);
    assert_eq!((after.config.lr, after.config.clip_norm, after.step), (0.0005, 0.25, 10));

    // The same architecture given again is fine; another one is an error naming the flag, and
    // the checkpoint is left as it was.
    let run = train(&out, &["--resume", out.to_str().unwrap(), "--steps", "1"]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for (flag, value) in [("--channels", "8"), ("-L", "5"), ("--model", "cvae"), ("--batch", "16")] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_denoise-lab"));
        cmd.args(["train", "--resume"]).arg(&out).arg("--out").arg(&out);
        let run = cmd.args(["--steps", "1", flag, value]).output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{flag} {value} with --resume: {stderr}");
        assert!(
            stderr.contains(&format!("{flag} {value} differs from the resumed checkpoint's")),
            "{stderr}"
        );
    }
    assert_eq!(load(&out).step, 11);
}

/// In a folder shared with others, a symbolic link planted at the temporary name the atomic write
/// used to take (`.NAME.tmp-PID`) must not redirect the write to the link's target.
#[cfg(unix)]
#[test]
fn an_atomic_write_does_not_follow_a_planted_symlink() {
    let dir = scratch("symlink");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, b"someone else's file").unwrap();
    let path = dir.join("run.ckpt");
    let planted = dir.join(format!(".run.ckpt.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    write_file(&path, b"the checkpoint").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"someone else's file", "the link's target is untouched");
    assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink(), "a file, not the link");
    assert_eq!(std::fs::read(&path).unwrap(), b"the checkpoint");
    assert!(std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink(), "the link is left alone");
    // Each write takes a new temporary name, and leaves none behind.
    write_file(&path, b"the next checkpoint").unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    files.sort();
    assert_eq!(files, [planted.file_name().unwrap(), "run.ckpt".as_ref(), "victim.txt".as_ref()]);
}

/// A missing `--out` folder is an error before any training, not at the first save.
#[test]
fn a_missing_out_folder_is_refused_before_training() {
    let dir = scratch("missing-out");
    let out = dir.join("no-such-folder").join("run.ckpt");
    let run = train(&out, &["--steps", "20", "--checkpoint-every", "0"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!stderr.contains("training a"), "refused before training: {stderr}");
}

/// A periodic save that fails does not end the run: a warning, training goes on, and the next
/// save writes the checkpoint again.
#[test]
fn a_failed_periodic_save_warns_and_training_goes_on() {
    let dir = scratch("save-fails");
    let out = dir.join("run.ckpt");
    let mut child =
        train(&out, &["--steps", "1000000", "--checkpoint-every", "5", "--checkpoint-minutes", "0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let stderr = stderr.clone();
        let mut pipe = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut line = String::new();
            while pipe.read_line(&mut line).unwrap_or(0) > 0 {
                stderr.lock().unwrap().push_str(&line);
                line.clear();
            }
        })
    };
    wait_for("a periodic checkpoint", &mut child, || out.exists());
    // A folder where the checkpoint goes: the rename of every save fails until it is gone.
    std::fs::remove_file(&out).unwrap();
    std::fs::create_dir(&out).unwrap();
    wait_for("a warning", &mut child, || stderr.lock().unwrap().contains("was not saved"));
    std::fs::remove_dir(&out).unwrap();
    wait_for("a checkpoint after the failed save", &mut child, || out.is_file());
    assert!(child.try_wait().unwrap().is_none(), "training goes on");
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    let text = stderr.lock().unwrap().clone();
    assert!(text.contains("training goes on"), "{text}");
    assert!(load(&out).step > 0);
}

/// `sample` writes its PNG atomically: a new file renamed over the old one, never the old file
/// rewritten in place (which another link to it would see half written).
#[test]
fn sample_replaces_its_png_atomically() {
    let dir = scratch("sample-png");
    let ckpt = dir.join("run.ckpt");
    let run = train(&ckpt, &["--steps", "1", "--checkpoint-every", "0"]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let png = dir.join("samples.png");
    std::fs::write(&png, b"the old picture").unwrap();
    std::fs::hard_link(&png, dir.join("link.png")).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_denoise-lab"))
        .args(["sample", "-n", "2", "--sampler", "deterministic", "-c"])
        .arg(&ckpt)
        .arg("--out")
        .arg(&png)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"), "a PNG");
    assert_eq!(std::fs::read(dir.join("link.png")).unwrap(), b"the old picture", "not rewritten in place");
}
