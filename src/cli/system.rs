//! The commands about the machine and the model: doctor, model-info, and the
//! explorer's headless replay.
use super::args::ReplayArgs;
use super::output::print_json;
use crate::tui;
use anyhow::Result;
use featurescope::text::printable;
use std::path::Path;

pub fn replay(args: ReplayArgs) -> Result<()> {
    let script = args
        .script
        .as_deref()
        .unwrap_or(tui::replay::DEFAULT_SCRIPT);
    let report = tui::replay::replay(
        &args.dataset,
        script,
        args.repeat,
        (args.width, args.height),
        std::time::Duration::from_millis(args.pace_ms),
        args.train.as_deref(),
        args.explain,
    )?;
    if args.json {
        return print_json(&report);
    }
    println!(
        "{} units, {}×{}: first frame {:.1} ms, list ready {:.1} ms, peak tokens {:.0} ms; {} frames p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms; unit opens p50 {:.1} ms, max {:.1} ms",
        report.units,
        report.width,
        report.height,
        report.first_frame_ms,
        report.list_ready_ms,
        report.peak_tokens_ms,
        report.frames,
        report.frame_p50_ms,
        report.frame_p95_ms,
        report.frame_p99_ms,
        report.frame_max_ms,
        report.unit_open_p50_ms,
        report.unit_open_max_ms
    );
    if let (Some(p50), Some(p99)) = (report.list_update_p50_ms, report.list_update_p99_ms) {
        println!(
            "{} sorts and filters off the event loop: new list on screen p50 {p50:.1} ms, p99 {p99:.1} ms",
            report.list_updates
        );
    }
    for (what, latencies) in [
        ("probes of your text", &report.probe_ms),
        ("similar-unit lists", &report.similar_ms),
        ("steered continuations", &report.steer_ms),
    ] {
        if !latencies.is_empty() {
            let shown: Vec<String> = latencies.iter().map(|ms| format!("{ms:.0}")).collect();
            println!(
                "{what} on screen after (ms, in order): {}",
                shown.join(", ")
            );
        }
    }
    if let (Some(during), Some(alone)) = (report.llm_jobs_during_replay, report.llm_jobs_alone) {
        println!(
            "the LLM jobs finished {during} explanations and scores in the {:.1} s of the script, {alone} in as long alone",
            report.script_s
        );
    }
    if let (Some(steps), Some(during), Some(alone)) = (
        report.job_steps_during_replay,
        report.job_steps_per_s_during,
        report.job_steps_per_s_alone,
    ) {
        println!(
            "the training job made {steps} steps in the {:.1} s of the script: {during:.2} steps/s, against {alone:.2} alone",
            report.script_s
        );
    }
    Ok(())
}

pub fn doctor() -> Result<()> {
    let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    let sum = t.sum(tch::Kind::Float).double_value(&[]);
    println!("libtorch       loaded (tensor check: 1+2+3 = {sum})");
    println!("cpu threads    {}", tch::get_num_threads());
    let cuda = match featurescope::device::load_cuda() {
        Err(featurescope::device::DeviceError::CudaLibrary { reason }) => {
            format!("not available: libtorch_cuda does not load ({reason})")
        }
        Err(other) => format!("not available: {other}"),
        Ok(()) if tch::Cuda::is_available() => {
            format!("{} device(s)", tch::Cuda::device_count())
        }
        Ok(()) => "libtorch_cuda loaded; no device".into(),
    };
    println!("cuda           {cuda}");
    Ok(())
}

#[derive(serde::Serialize)]
struct HookInfo {
    hook: String,
    layer: u32,
    site: &'static str,
    units: i64,
}

pub fn model_info(dir: &Path, json: bool) -> Result<()> {
    let model = featurescope::model::load(dir, tch::Device::Cpu)?;
    let c = model.config();
    let hooks: Vec<HookInfo> = model
        .hook_points()
        .into_iter()
        .map(|h| HookInfo {
            hook: h.to_string(),
            layer: h.layer,
            site: h.site.as_str(),
            units: model.width(h.site),
        })
        .collect();
    if json {
        return print_json(&serde_json::json!({
            "architecture": c.architecture.as_str(),
            "model_type": c.model_type,
            "layers": c.num_layers,
            "hidden_size": c.hidden_size,
            "mlp_size": c.intermediate_size,
            "heads": c.num_heads,
            "vocab_size": c.vocab_size,
            "kv_heads": c.num_kv_heads,
            "head_dim": c.head_dim,
            "windows": c.windows,
            "rope_theta": c.rope.theta,
            "local_rope_theta": c.local_rope.as_ref().map(|r| r.theta),
            "hooks": hooks,
        }));
    }
    println!(
        "model         {} ({}, model_type {})",
        dir.display(),
        c.architecture.as_str(),
        printable(&c.model_type)
    );
    println!(
        "layers        {}   hidden {}   mlp {}   heads {}   vocab {}",
        c.num_layers, c.hidden_size, c.intermediate_size, c.num_heads, c.vocab_size
    );
    if c.architecture != featurescope::model::Architecture::Bert {
        println!("attention     {}", attention_summary(c));
    }
    println!("hook points   (units per layer)");
    for site in featurescope::model::HookSite::ALL {
        println!(
            "  blocks.<0..{}>.{:<10} {:>6}",
            c.num_layers.saturating_sub(1),
            site.as_str(),
            model.width(site)
        );
    }
    Ok(())
}

/// Heads, windows and rotary bases in one line.
fn attention_summary(c: &featurescope::model::ModelConfig) -> String {
    let sliding: Vec<i64> = c.windows.iter().flatten().copied().collect();
    let mut sizes = sliding.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let sizes: Vec<String> = sizes.iter().map(i64::to_string).collect();
    let layers = match sizes.len() {
        0 => "all global".to_owned(),
        n => format!(
            "{} sliding (window{} {}), {} global",
            sliding.len(),
            if n > 1 { "s" } else { "" },
            sizes.join(", "),
            c.windows.len() - sliding.len()
        ),
    };
    let rope = match &c.local_rope {
        Some(local) => format!("rope base {} (local {})", c.rope.theta, local.theta),
        None => format!("rope base {}", c.rope.theta),
    };
    format!(
        "{} heads, {} key/value, head size {}; {layers}; {rope}",
        c.num_heads, c.num_kv_heads, c.head_dim
    )
}
