//! The quiz as lessons: one claim of the course quiz each (docs/quiz.md), asked as a question with
//! a few plausible outcomes for the student to predict, run on one of the scenarios
//! (`scenario.rs`), and answered from that run's own measured figures (`judge`), never from a
//! stored text. The page shows one lesson at a time (`?lesson=NAME`); `denoise-lab lesson NAME`
//! measures the same figures natively and prints the same verdict; `tests/cli.rs` checks that the
//! verdict on the bundled checkpoints is the quiz's answer.
//!
//! The thresholds below turn figures into an outcome. Each compares a sample set with real
//! digits measured the same way, so that the verdict does not depend on the sample size.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metrics::classifier::SIDE;
use crate::metrics::{FirstStep, SampleMetrics};

/// Samples this much less diverse than real digits (mean pairwise distance) are one image.
pub const COLLAPSED: f64 = 0.05;
/// Samples at least this diverse, relative to real digits, with at least `ENTROPY_LIKE_REAL` of
/// their class entropy, are varied digits.
pub const LIKE_REAL: f64 = 0.5;
pub const ENTROPY_LIKE_REAL: f64 = 0.8;
/// A first step this close to the mean image (RMS, relative to the RMS between two real digits)
/// is the mean image.
pub const NEAR_MEAN: f64 = 0.2;
/// A first step whose draws are this far apart, relative to real digits, still depends on z_L
/// (measured on the bundled data: Φ*'s draws 0.5 apart, where a^L z_L is all that differs; the
/// 'imperfect' network's 4.6; real digits 20.9).
pub const VARIES: f64 = 0.1;
/// One Fréchet distance below this share of another is better.
pub const BETTER: f64 = 0.7;
/// At least this share of copies (within 0.05 RMS of a training image) is memorising; below
/// `NEW`, the samples are new images.
pub const COPIES: f64 = 0.5;
pub const NEW: f64 = 0.1;

#[derive(Clone, Debug, Serialize)]
pub struct Choice {
    pub id: &'static str,
    pub text: &'static str,
}

/// A variation to try after the lesson: a page address (query string) and what it changes.
#[derive(Clone, Debug, Serialize)]
pub struct TryThis {
    pub text: &'static str,
    pub query: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Lesson {
    /// For URLs and the CLI.
    pub name: &'static str,
    pub title: &'static str,
    /// Where it is in the quiz, e.g. "Problem 1 (a)".
    pub quiz: &'static str,
    /// The scenario it runs (`scenario::by_name`): its models, panels and training budget.
    pub scenario: &'static str,
    /// That scenario's training budget (its `steps`; the bundled checkpoints are at that step).
    pub steps: usize,
    /// The question, in the quiz's words.
    pub question: &'static str,
    /// What the student may predict; `judge` names one of them.
    pub choices: Vec<Choice>,
    /// What the verdict's figures are, in one line (shown before the run).
    pub measures: &'static str,
    /// The quiz's explanation, shown with the verdict.
    pub explanation: &'static str,
    pub try_this: TryThis,
    /// The bundled checkpoint of each of the scenario's models, by index (`scenario::checkpoint_path`
    /// names; `None`: computed (Φ*) or trained live). Written by `scripts/make-fixtures.sh`.
    pub checkpoints: Vec<Option<&'static str>>,
    /// The outcome the quiz's solution predicts. Only the tests read it: the page shows the
    /// verdict of the figures it measured, and says whether the student's prediction agrees.
    #[serde(skip)]
    pub quiz_answer: &'static str,
}

/// One panel's measured figures (the panels in the scenario's order).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PanelFigures {
    pub label: String,
    #[serde(flatten)]
    pub metrics: SampleMetrics,
    /// Its sampler's first step (meaningful for eq. (2): z_{L−1} = ŷ(z_L, L)).
    pub first_step: FirstStep,
}

/// What a run measured: its panels and real digits measured like a sample set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figures {
    pub step: u64,
    pub panels: Vec<PanelFigures>,
    pub real: SampleMetrics,
}

#[cfg(not(target_arch = "wasm32"))]
impl Figures {
    /// What a lesson on a scenario judges, from the CLI's measurement of it.
    pub fn of_report(report: &crate::scenario::ScenarioReport) -> Self {
        Figures {
            step: report.steps as u64,
            panels: report
                .panels
                .iter()
                .map(|p| PanelFigures {
                    label: p.label.clone(),
                    metrics: p.metrics.clone(),
                    first_step: p.first_step.clone(),
                })
                .collect(),
            real: report.real.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The outcome: one of the lesson's choice ids.
    pub choice: &'static str,
    /// The figures that decide it, in words.
    pub text: String,
}

const COLLAPSE_CKPT: &str = "collapse-0-denoiser.ckpt";

/// The lessons, in quiz order.
pub fn all() -> Vec<Lesson> {
    let mut all = presets();
    for l in &mut all {
        l.steps = crate::scenario::by_name(l.scenario).expect("a lesson names a scenario").steps;
    }
    all
}

fn presets() -> Vec<Lesson> {
    let choice = |id, text| Choice { id, text };
    vec![
        Lesson {
            name: "mean-image",
            title: "The best guess from pure noise",
            quiz: "Problem 1 (a)",
            scenario: "perfect",
            steps: 0,
            question: "Assuming universality for Φ, and z_L distributed as N(0, I) independent of y, what is ŷ_Φ*(z_L, L), \
                       the denoiser's prediction of the image from the top level?",
            choices: vec![
                choice("mean", "The mean training image E[y], the same for every z_L"),
                choice("depends", "A different image for each z_L: some digit that z_L suggests"),
            ],
            measures: "eq. (2)'s first step z_{L−1} = ŷ(z_L, L) for many draws of z_L: its RMS distance to the mean training \
                       image and how far the draws are from each other, with the perfect denoiser Φ* and the trained network",
            explanation: "z_L is independent of y, so the prediction that minimises the expected squared error is the same for \
                          every z_L: the mean image, ŷ_Φ*(z_L, L) = E[y].",
            try_this: TryThis {
                text: "Watch the grids: eq. (2)'s second column is the same blur in every row",
                query: "scenario=perfect",
            },
            checkpoints: vec![Some(COLLAPSE_CKPT), None],
            quiz_answer: "mean",
        },
        Lesson {
            name: "collapse",
            title: "Deterministic decoding collapses",
            quiz: "Problem 1 (b)",
            scenario: "collapse",
            steps: 0,
            question: "Does your answer to (a) have implications for the diversity of the generated images when every step \
                       is deterministic, z_{ℓ−1} = ŷ(z_ℓ, ℓ) (eq. (2))?",
            choices: vec![
                choice("same", "Every z_L ends on the same image"),
                choice("fewer", "Different images, but of fewer kinds of digit than real ones"),
                choice("varied", "Varied digits, like real ones"),
            ],
            measures: "the diversity (mean pairwise distance) and class entropy of eq. (2)'s final samples z_0, beside real digits'",
            explanation: "By (a), z_{L−1} is the mean image whatever z_L was. If every later step is deterministic, every chain \
                          continues from the same z_{L−1}, so the sampler always produces the same image.",
            try_this: TryThis {
                text: "Add noise to each step: the stochastic sampler and DDIM",
                query: "lesson=noise",
            },
            checkpoints: vec![Some(COLLAPSE_CKPT)],
            quiz_answer: "same",
        },
        Lesson {
            name: "imperfect",
            title: "Why it varies in practice",
            quiz: "Problem 1 (c)",
            scenario: "imperfect",
            steps: 0,
            question: "Why might an image generator based on eq. (1) and eq. (2) be diverse in practice? Is a small network's \
                       first step ŷ(z_L, L) really the same for every z_L?",
            choices: vec![
                choice("constant", "Yes: a trained network also gives exactly the mean image"),
                choice("varies", "No: a real network's ŷ(z_L, L) still depends a little on z_L"),
            ],
            measures: "how far apart eq. (2)'s first steps z_{L−1} land for different z_L, beside real digits, and the diversity left at z_0",
            explanation: "The universality assumption does not hold in practice, so ŷ(z_L, L) is not truly constant in z_L. That \
                          variation can be amplified by the later steps of the chain.",
            try_this: TryThis {
                text: "A bigger network trained ten times longer (scenario 'collapse')",
                query: "lesson=collapse",
            },
            checkpoints: vec![None],
            quiz_answer: "varies",
        },
        Lesson {
            name: "noise",
            title: "Noise restores diversity",
            quiz: "Problem 2 (the sampler of diffusion models)",
            scenario: "noise",
            steps: 0,
            question: "Diffusion models sample z_{ℓ−1} = ŷ(z_ℓ, ℓ) + σ δ with δ ~ N(0, I). With the same trained network that \
                       collapses under eq. (2), what does adding that noise do?",
            choices: vec![
                choice("restores", "Varied digits of every class again"),
                choice("still", "Still one image: the network is the same"),
            ],
            measures: "the diversity and class entropy of the stochastic sampler's and DDIM's final samples, beside eq. (2)'s and \
                       real digits'",
            explanation: "Fresh noise at every step (or, in DDIM, the noise direction kept from z_L) means the chains no longer \
                          all pass through the mean image, so different z_L lead to different digits.",
            try_this: TryThis {
                text: "σ = 0.1 instead of the posterior σ",
                query: "scenario=noise&sigma=0.1",
            },
            checkpoints: vec![Some(COLLAPSE_CKPT)],
            quiz_answer: "restores",
        },
        Lesson {
            name: "few-levels",
            title: "Few levels need a non-Gaussian step",
            quiz: "Problem 2",
            scenario: "few-levels",
            steps: 0,
            question: "With few layers (here L = 4) there is more noise between layers and the true p(z_{ℓ−1} | z_ℓ) is not \
                       Gaussian. Which step then gives samples closer to real digits: the Gaussian step ŷ + σ δ, or a \
                       conditional VAE step with a latent ε?",
            choices: vec![
                choice("cvae", "The CVAE step"),
                choice("gaussian", "The Gaussian step"),
                choice("same", "About the same"),
            ],
            measures: "the Fréchet distance to real digits of each step's final samples (both trained the same number of steps)",
            explanation: "A Gaussian step can only scatter noise around one mean, a blur of the digits z_ℓ could come from. The \
                          CVAE step first draws a latent ε, so p(z_{ℓ−1} | z_ℓ) can be multimodal: it picks one of them.",
            try_this: TryThis { text: "The same with L = 40 levels", query: "scenario=noise" },
            checkpoints: vec![Some("few-levels-0-denoiser.ckpt"), Some("few-levels-1-cvae.ckpt"), None],
            quiz_answer: "cvae",
        },
        Lesson {
            name: "perfect",
            title: "What the perfect denoiser does",
            quiz: "Problem 1 (a, b) with Φ*",
            scenario: "perfect",
            steps: 0,
            question: "Φ* is the universal denoiser, computed exactly from the training images. Where does eq. (2) end with it?",
            choices: vec![
                choice("training-digit", "On one training digit, the same from every z_L"),
                choice("mean", "On the blurry mean image"),
                choice("varied", "On varied new digits"),
            ],
            measures: "the diversity of Φ*'s eq. (2) samples and their distance to the nearest training image",
            explanation: "Φ*(z_L, L) is the mean image for every z_L, so every chain continues from the same point. Further down Φ* \
                          can only ever predict a weighted average of training images, and as the noise shrinks the weight \
                          goes to one of them: the chain ends on a training digit.",
            try_this: TryThis { text: "Noise in the steps with Φ*", query: "lesson=memorisation" },
            checkpoints: vec![Some(COLLAPSE_CKPT), None],
            quiz_answer: "training-digit",
        },
        Lesson {
            name: "memorisation",
            title: "Memorisation vs generalisation",
            quiz: "Beyond the quiz: the perfect denoiser",
            scenario: "memorisation",
            steps: 0,
            question: "Φ* is the best possible denoiser of the training set. With noise in the sampler, do Φ* and the trained \
                       network make new digits, or copies of training digits?",
            choices: vec![
                choice("phi-copies", "Φ* copies training digits; the network makes new ones"),
                choice("both-new", "Both make new digits"),
                choice("both-copy", "Both copy training digits"),
                choice("mixed", "Some copies, some new digits"),
            ],
            measures: "the share of samples within 0.05 RMS of a training image (copies) for Φ* and the network",
            explanation: "The minimiser of eq. (1) over all functions knows nothing but the training set: sampling with it \
                          reproduces training images. A small network cannot fit that function and generalises instead.",
            try_this: TryThis { text: "The true reverse conditional of Φ*", query: "scenario=memorisation" },
            checkpoints: vec![Some(COLLAPSE_CKPT), None],
            quiz_answer: "phi-copies",
        },
    ]
}

pub fn names() -> Vec<&'static str> {
    all().into_iter().map(|l| l.name).collect()
}

pub fn by_name(name: &str) -> Result<Lesson> {
    all()
        .into_iter()
        .find(|l| l.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::Config(format!("unknown lesson '{name}' (use one of: {})", names().join(", "))))
}

/// Real digits' RMS distance between two images, from their diversity (mean pairwise L2).
fn real_rms(real: &SampleMetrics) -> f64 {
    real.diversity / ((SIDE * SIDE) as f64).sqrt()
}

fn panel(f: &Figures, i: usize) -> Result<&PanelFigures> {
    f.panels.get(i).ok_or_else(|| Error::Config(format!("the figures have no panel {i}")))
}

/// How a sample set's variety compares with real digits'.
fn variety(p: &PanelFigures, real: &SampleMetrics) -> &'static str {
    if p.metrics.diversity < COLLAPSED * real.diversity {
        "same"
    } else if p.metrics.diversity >= LIKE_REAL * real.diversity
        && p.metrics.entropy_nats >= ENTROPY_LIKE_REAL * real.entropy_nats
    {
        "varied"
    } else {
        "fewer"
    }
}

fn spread_text(p: &PanelFigures) -> String {
    format!(
        "{}: {} samples {:.2} apart, class entropy {:.2} nats",
        p.label, p.metrics.n, p.metrics.diversity, p.metrics.entropy_nats
    )
}

fn real_text(real: &SampleMetrics) -> String {
    format!("real digits: {:.2} apart, {:.2} nats", real.diversity, real.entropy_nats)
}

fn copies(p: &PanelFigures) -> f64 {
    p.metrics.memorisation.as_ref().map_or(0.0, |m| m.copies)
}

fn nearest_text(p: &PanelFigures) -> String {
    match &p.metrics.memorisation {
        Some(m) => format!(
            "{}: {:.0}% copies, median distance to the nearest training image {:.3}",
            p.label,
            100.0 * m.copies,
            m.median_nn_rms
        ),
        None => format!("{}: not measured against the training images", p.label),
    }
}

/// The outcome the figures show, and the figures that decide it, in words.
pub fn judge(lesson: &Lesson, f: &Figures) -> Result<Verdict> {
    let real = &f.real;
    let (choice, text) = match lesson.name {
        "mean-image" => {
            let (phi, net) = (panel(f, 0)?, panel(f, 1)?);
            let s = &phi.first_step;
            let at_mean = s.rms_to_mean < NEAR_MEAN * real_rms(real) && s.spread < COLLAPSED * real.diversity;
            let text = format!(
                "{}: ŷ(z_L, L) is {:.3} RMS from the mean image and its {} draws are {:.3} apart; {}: {:.3} from the mean, \
                 {:.3} apart. Two real digits are {:.3} RMS ({:.2}) apart.",
                phi.label,
                s.rms_to_mean,
                phi.metrics.n,
                s.spread,
                net.label,
                net.first_step.rms_to_mean,
                net.first_step.spread,
                real_rms(real),
                real.diversity
            );
            (if at_mean { "mean" } else { "depends" }, text)
        }
        "collapse" => {
            let p = panel(f, 0)?;
            (variety(p, real), format!("{}; {}.", spread_text(p), real_text(real)))
        }
        "imperfect" => {
            let p = panel(f, 0)?;
            let varies = p.first_step.spread >= VARIES * real.diversity;
            let text = format!(
                "{}: its first steps z_{{L−1}} for {} draws of z_L are {:.3} apart (real digits are {:.2} apart); at z_0 \
                 they are {:.3} apart.",
                p.label, p.metrics.n, p.first_step.spread, real.diversity, p.metrics.diversity
            );
            (if varies { "varies" } else { "constant" }, text)
        }
        "noise" => {
            // The question is the stochastic sampler's (panel 0); DDIM's figures are shown beside it.
            let (sto, ddim, det) = (panel(f, 0)?, panel(f, 1)?, panel(f, 2)?);
            let text = format!(
                "{}; {}; {}; {}.",
                spread_text(sto),
                spread_text(ddim),
                spread_text(det),
                real_text(real)
            );
            (if variety(sto, real) == "varied" { "restores" } else { "still" }, text)
        }
        "few-levels" => {
            let (gauss, cvae) = (panel(f, 0)?, panel(f, 1)?);
            let (g, c) = (gauss.metrics.frechet, cvae.metrics.frechet);
            let choice = if c < BETTER * g {
                "cvae"
            } else if g < BETTER * c {
                "gaussian"
            } else {
                "same"
            };
            let text = format!(
                "Fréchet distance to real digits (lower is closer): {} {:.0}, {} {:.0} (ratio {:.2}); real digits {:.1}.",
                cvae.label,
                c,
                gauss.label,
                g,
                c / g,
                real.frechet
            );
            (choice, text)
        }
        "perfect" => {
            let p = panel(f, 0)?;
            let choice = if variety(p, real) != "same" {
                "varied"
            } else if copies(p) >= COPIES {
                "training-digit"
            } else {
                "mean"
            };
            (choice, format!("{}; {}; {}.", spread_text(p), nearest_text(p), real_text(real)))
        }
        "memorisation" => {
            let (net, phi) = (panel(f, 0)?, panel(f, 1)?);
            let (cn, cp) = (copies(net), copies(phi));
            let choice = if cp >= COPIES && cn < NEW {
                "phi-copies"
            } else if cp < NEW && cn < NEW {
                "both-new"
            } else if cp >= COPIES && cn >= COPIES {
                "both-copy"
            } else {
                "mixed"
            };
            let real_nn = real.memorisation.as_ref().map_or(f64::NAN, |m| m.median_nn_rms);
            let text = format!(
                "{}; {}; held-out real digits: {:.3} from the nearest training image.",
                nearest_text(phi),
                nearest_text(net),
                real_nn
            );
            (choice, text)
        }
        other => return Err(Error::Config(format!("no verdict for lesson '{other}'"))),
    };
    Ok(Verdict { choice, text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Memorisation;

    fn metrics(diversity: f64, entropy: f64, copies: f64) -> SampleMetrics {
        SampleMetrics {
            n: 100,
            frechet: 100.0,
            histogram: vec![10; 10],
            entropy_nats: entropy,
            diversity,
            memorisation: Some(Memorisation {
                n: 100,
                median_nn_rms: if copies > 0.5 { 0.0 } else { 0.4 },
                copies,
            }),
        }
    }

    fn figures(panels: &[(f64, f64, f64)]) -> Figures {
        Figures {
            step: 600,
            panels: panels
                .iter()
                .enumerate()
                .map(|(i, &(d, h, c))| PanelFigures {
                    label: format!("panel {i}"),
                    metrics: metrics(d, h, c),
                    first_step: FirstStep { rms_to_mean: 0.01, spread: d / 10.0 },
                })
                .collect(),
            real: metrics(20.0, 2.3, 0.0),
        }
    }

    #[test]
    fn every_lesson_names_a_scenario_and_its_checkpoints_and_the_quiz_answer_is_a_choice() {
        for l in all() {
            let sc = crate::scenario::by_name(l.scenario).unwrap();
            assert_eq!(l.checkpoints.len(), sc.models.len(), "{}", l.name);
            for (c, m) in l.checkpoints.iter().zip(&sc.models) {
                assert_eq!(c.is_some(), m.kind.trained() && l.name != "imperfect", "{}", l.name);
            }
            assert!(l.choices.iter().any(|c| c.id == l.quiz_answer), "{}", l.name);
            assert!(l.choices.len() >= 2, "{}", l.name);
        }
    }

    #[test]
    fn verdicts_follow_the_figures_not_the_quiz() {
        let collapse = by_name("collapse").unwrap();
        assert_eq!(judge(&collapse, &figures(&[(0.1, 0.0, 0.0)])).unwrap().choice, "same");
        assert_eq!(judge(&collapse, &figures(&[(19.0, 2.2, 0.0)])).unwrap().choice, "varied");
        assert_eq!(judge(&collapse, &figures(&[(8.0, 1.0, 0.0)])).unwrap().choice, "fewer");
        let noise = by_name("noise").unwrap();
        assert_eq!(
            judge(&noise, &figures(&[(21.0, 2.2, 0.0), (21.0, 2.1, 0.0), (0.0, 0.0, 0.0)])).unwrap().choice,
            "restores"
        );
        assert_eq!(
            judge(&noise, &figures(&[(0.1, 0.0, 0.0), (21.0, 2.1, 0.0), (0.0, 0.0, 0.0)])).unwrap().choice,
            "still"
        );
        let memo = by_name("memorisation").unwrap();
        assert_eq!(
            judge(&memo, &figures(&[(20.0, 2.2, 0.0), (20.0, 2.2, 1.0)])).unwrap().choice,
            "phi-copies"
        );
        assert_eq!(judge(&memo, &figures(&[(20.0, 2.2, 0.0), (20.0, 2.2, 0.0)])).unwrap().choice, "both-new");
        let text = judge(&collapse, &figures(&[(0.123, 0.0, 0.0)])).unwrap().text;
        assert!(text.contains("0.12 apart") && text.contains("real digits: 20.00 apart"), "{text}");
        assert!(judge(&collapse, &figures(&[])).is_err(), "a missing panel is an error, not a verdict");
    }
}
