//! Dictionaries and the SAE training step against SAELens (PyPI sae-lens):
//! our checkpoints load in SAELens with the same encode and forward to 1e-5,
//! SAELens checkpoints load here with the same outputs, and the hand-written
//! gradients of one training step equal SAELens's autograd gradients.
use crate::common;

use common::{path_str, python};
use featurescope::sae::Dictionary;
use featurescope::sae::step::{Architecture, Coefficients, Params, step};
use std::collections::HashMap;
use std::path::Path;
use tch::{Kind, Tensor};

fn read(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

/// max |a − b| / max(|b|, 1e-3): relative to the reference's scale.
fn relative_error(ours: &Tensor, theirs: &Tensor) -> f64 {
    assert_eq!(ours.size(), theirs.size());
    let diff = (ours - theirs).abs().max().double_value(&[]);
    diff / theirs.abs().max().double_value(&[]).max(1e-3)
}

fn assert_close(what: &str, ours: &Tensor, theirs: &Tensor, tolerance: f64) {
    let err = relative_error(ours, theirs);
    assert!(err <= tolerance, "{what}: relative error {err:e}");
}

#[test]
fn saelens_checkpoints_load_with_the_same_outputs() {
    let _rng = common::torch_rng();
    for arch in [
        "standard",
        "standard-no-bias-input",
        "standard-layer-norm",
        "standard-constant-norm-rescale",
        "topk",
        "jumprelu",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let ckpt = tmp.path().join("sae");
        let out = tmp.path().join("reference.safetensors");
        python(
            "saelens_reference.py",
            &["make", arch, path_str(&ckpt), path_str(&out)],
        );
        let reference = read(&out);
        let dictionary = Dictionary::load(&ckpt).unwrap();
        let (features, reconstruction) = dictionary.encode_decode(&reference["x"]);
        assert_close(arch, &features, &reference["features"], 1e-5);
        assert_close(arch, &reconstruction, &reference["reconstruction"], 1e-5);
        assert_close(
            arch,
            &dictionary.encode(&reference["x"]),
            &reference["features"],
            1e-5,
        );
        // Some features fire and some do not, so the comparison is not vacuous.
        let active = features.ne(0.0).to_kind(Kind::Float).mean(Kind::Float);
        let active = active.double_value(&[]);
        assert!(active > 0.01 && active < 0.99, "{arch}: {active}");
    }
}

/// A dictionary of each kind we write, with random weights.
fn our_dictionaries() -> Vec<(&'static str, Dictionary)> {
    tch::manual_seed(3);
    let (d_in, d_sae) = (16, 40);
    let random = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, tch::Device::Cpu)) * 0.4;
    let mut standard = Dictionary::new(
        featurescope::dataset::UnitKind::Sae,
        featurescope::sae::Activation::Relu,
        random(&[d_in, d_sae]),
        random(&[d_sae, d_in]),
    );
    standard.b_enc = random(&[d_sae]);
    standard.b_dec = random(&[d_in]);
    standard.apply_b_dec_to_input = true;
    let mut topk = Dictionary::new(
        featurescope::dataset::UnitKind::Sae,
        featurescope::sae::Activation::TopK { k: 5 },
        random(&[d_in, d_sae]),
        random(&[d_sae, d_in]),
    );
    topk.b_enc = random(&[d_sae]);
    topk.b_dec = random(&[d_in]);
    topk.apply_b_dec_to_input = true;
    vec![("standard", standard), ("topk", topk)]
}

#[test]
fn our_checkpoints_load_in_saelens_with_the_same_outputs() {
    let _rng = common::torch_rng();
    for (name, dictionary) in our_dictionaries() {
        let tmp = tempfile::tempdir().unwrap();
        let ckpt = tmp.path().join("sae");
        dictionary.save(&ckpt).unwrap();
        let x = Tensor::randn([64, dictionary.d_in()], (Kind::Float, tch::Device::Cpu)) * 1.5;
        let inputs = tmp.path().join("inputs.safetensors");
        Tensor::write_safetensors(&[("x", &x)], &inputs).unwrap();
        let out = tmp.path().join("theirs.safetensors");
        python(
            "saelens_reference.py",
            &["encode", path_str(&ckpt), path_str(&inputs), path_str(&out)],
        );
        let theirs = read(&out);
        let (features, reconstruction) = dictionary.encode_decode(&x);
        assert_close(name, &features, &theirs["features"], 1e-5);
        assert_close(name, &reconstruction, &theirs["reconstruction"], 1e-5);
        // And we read back exactly what we wrote.
        let reloaded = Dictionary::load(&ckpt).unwrap();
        assert_close(name, &reloaded.encode(&x), &features, 0.0);
    }
}

fn random_params(d_in: i64, d_sae: i64) -> Params {
    let r = |shape: &[i64], s: f64| Tensor::randn(shape, (Kind::Float, tch::Device::Cpu)) * s;
    Params {
        w_enc: r(&[d_in, d_sae], 0.3),
        b_enc: r(&[d_sae], 0.1),
        w_dec: r(&[d_sae, d_in], 0.3),
        b_dec: r(&[d_in], 0.2),
    }
}

/// Our gradients of one step against SAELens's, for `arch`.
fn check_gradients(arch: Architecture, coef: Coefficients, dead: Option<Tensor>) {
    tch::manual_seed(11);
    let (d_in, d_sae, batch) = (12, 48, 256);
    let p = random_params(d_in, d_sae);
    let x = Tensor::randn([batch, d_in], (Kind::Float, tch::Device::Cpu)) + 0.3;
    let tmp = tempfile::tempdir().unwrap();
    let params = tmp.path().join("params.safetensors");
    let coefficients = Tensor::from_slice(&[coef.l1 as f32, coef.aux as f32, coef.k as f32]);
    let mut tensors = vec![
        ("W_enc", p.w_enc.shallow_clone()),
        ("b_enc", p.b_enc.shallow_clone()),
        ("W_dec", p.w_dec.shallow_clone()),
        ("b_dec", p.b_dec.shallow_clone()),
        ("x", x.shallow_clone()),
        ("coefficients", coefficients),
    ];
    if let Some(d) = &dead {
        tensors.push(("dead_mask", d.to_kind(Kind::Float)));
    }
    Tensor::write_safetensors(&tensors, &params).unwrap();
    let out = tmp.path().join("grads.safetensors");
    let name = arch.as_str();
    python(
        "saelens_reference.py",
        &["grads", name, path_str(&params), path_str(&out)],
    );
    let theirs = read(&out);
    let ours = step(arch, &p, &x, coef, dead.as_ref(), true);
    for (i, param) in ["W_enc", "b_enc", "W_dec", "b_dec"].iter().enumerate() {
        assert_close(
            &format!("{name} grad {param}"),
            &ours.grads[i],
            &theirs[&format!("grad.{param}")],
            1e-4,
        );
    }
    let close = |ours: f64, theirs: &Tensor, what: &str| {
        let theirs = theirs.double_value(&[0]);
        assert!(
            (ours - theirs).abs() <= 1e-4 * theirs.abs().max(1e-3),
            "{name} {what}: {ours} vs {theirs}"
        );
    };
    close(ours.mse, &theirs["mse"], "mse");
    if let Some(l1) = theirs.get("l1_loss") {
        close(ours.sparsity, l1, "l1 loss");
    }
    if let Some(aux) = theirs.get("auxiliary_reconstruction_loss") {
        assert_eq!(
            aux.double_value(&[0]) > 0.0,
            dead.is_some(),
            "the AuxK loss is there exactly when latents are dead"
        );
        close(ours.aux, aux, "AuxK loss");
    }
}

#[test]
fn standard_step_gradients_equal_saelens_autograd() {
    let _rng = common::torch_rng();
    let coef = Coefficients {
        l1: 0.7,
        aux: 0.0,
        k: 0,
    };
    check_gradients(Architecture::Standard, coef, None);
}

#[test]
fn topk_step_gradients_with_auxk_equal_saelens_autograd() {
    let _rng = common::torch_rng();
    let coef = Coefficients {
        l1: 0.0,
        aux: 0.5,
        k: 6,
    };
    // Dead latents, more than k_aux = d_in / 2 of them, and a few live ones.
    let dead = Tensor::arange(48, (Kind::Int64, tch::Device::Cpu))
        .remainder(3)
        .ne(0);
    check_gradients(Architecture::TopK, coef, Some(dead));
    // With no dead latent there is no AuxK term.
    check_gradients(Architecture::TopK, coef, None);
}

#[test]
fn tied_step_gradients_equal_autograd() {
    let _rng = common::torch_rng();
    // SAELens has no tied SAE: libtorch's autograd on the paper's loss is the reference.
    tch::manual_seed(5);
    let (d_in, d_sae, batch) = (10, 30, 64);
    let p = random_params(d_in, d_sae);
    let x = Tensor::randn([batch, d_in], (Kind::Float, tch::Device::Cpu));
    let alpha = 0.4;
    let coef = Coefficients {
        l1: alpha,
        aux: 0.0,
        k: 0,
    };
    let ours = step(Architecture::Tied, &p, &x, coef, None, false);
    let m = p.w_dec.detach().set_requires_grad(true);
    let b = p.b_enc.detach().set_requires_grad(true);
    let c = (x.mm(&m.tr()) + &b).relu();
    let loss = (c.mm(&m) - &x).square().sum(Kind::Float) / batch as f64
        + c.sum(Kind::Float) * (alpha / batch as f64);
    loss.backward();
    assert_close("tied grad M", &ours.grads[0], &m.grad(), 1e-4);
    assert_close("tied grad b", &ours.grads[1], &b.grad(), 1e-4);
}

#[test]
fn the_demo_sae_trained_here_loads_in_saelens_with_the_same_outputs() {
    let _rng = common::torch_rng();
    // Real activations: Gemma-3-270M's residual stream at the demo SAE's hook.
    let dir = common::root().join("datasets/dictionaries/gemma-l6-sae");
    let dictionary = Dictionary::load(&dir).unwrap();
    let hook = dictionary.hook.expect("the demo SAE names its hook");
    let model_dir = common::root().join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    let model = featurescope::model::load(&model_dir, tch::Device::Cpu).unwrap();
    let tokenizer = featurescope::model::TextTokenizer::load(&model_dir).unwrap();
    let ids: Vec<i64> = tokenizer
        .encode(
            "Sparse autoencoders find highly interpretable features in language models.",
            true,
        )
        .unwrap()
        .ids
        .iter()
        .map(|&i| i as i64)
        .collect();
    let ids = Tensor::from_slice(&ids).unsqueeze(0);
    let mask = ids.ones_like();
    let x = tch::no_grad(|| model.forward(&ids, &mask, &[hook]))
        .unwrap()
        .remove(0)
        .squeeze_dim(0);
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("inputs.safetensors");
    Tensor::write_safetensors(&[("x", &x)], &inputs).unwrap();
    let out = tmp.path().join("theirs.safetensors");
    python(
        "saelens_reference.py",
        &["encode", path_str(&dir), path_str(&inputs), path_str(&out)],
    );
    let theirs = read(&out);
    let (features, reconstruction) = dictionary.encode_decode(&x);
    assert_close("demo SAE features", &features, &theirs["features"], 1e-5);
    assert_close(
        "demo SAE reconstruction",
        &reconstruction,
        &theirs["reconstruction"],
        1e-5,
    );
    let active = features
        .ne(0.0)
        .to_kind(Kind::Float)
        .sum(Kind::Float)
        .double_value(&[]);
    assert!(active > 0.0, "some features fire on real text");
}

#[test]
fn patched_logits_match_transformers_with_a_saelens_reconstruction() {
    let _rng = common::torch_rng();
    let (tmp, models) = common::tiny_models();
    for name in ["gpt2", "llama"] {
        let model_dir = models.join(name);
        let model = featurescope::model::load(&model_dir, tch::Device::Cpu).unwrap();
        let d = model.config().hidden_size;
        tch::manual_seed(9);
        let random = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, tch::Device::Cpu)) * 0.2;
        let mut sae = Dictionary::new(
            featurescope::dataset::UnitKind::Sae,
            featurescope::sae::Activation::Relu,
            random(&[d, 4 * d]),
            random(&[4 * d, d]),
        );
        sae.b_dec = random(&[d]);
        sae.apply_b_dec_to_input = true;
        let hook = featurescope::model::HookPoint {
            layer: 0,
            site: featurescope::model::HookSite::ResidPost,
        };
        sae.hook = Some(hook);
        let sae_dir = tmp.path().join(format!("sae-{name}"));
        sae.save(&sae_dir).unwrap();
        // Two sequences, the second padded on the right.
        let ids = Tensor::from_slice(&[
            101i64, 2023, 2003, 1037, 3231, 102, 7592, 2088, 999, 102, 0, 0,
        ])
        .view([2, 6]);
        let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]).view([2, 6]);
        let inputs = tmp.path().join("inputs.safetensors");
        Tensor::write_safetensors(&[("ids", &ids), ("mask", &mask)], &inputs).unwrap();
        let out = tmp.path().join(format!("{name}.safetensors"));
        python(
            "patched_logits.py",
            &[
                path_str(&model_dir),
                path_str(&sae_dir),
                "0",
                path_str(&inputs),
                path_str(&out),
            ],
        );
        let theirs = read(&out);
        let reconstruct = |t: &Tensor| sae.encode_decode(t).1;
        let patch = featurescope::model::Patch {
            hook,
            replace: &reconstruct,
        };
        let (clean, patched) = tch::no_grad(|| {
            (
                model.logits(&ids, &mask, None).unwrap(),
                model.logits(&ids, &mask, Some(patch)).unwrap(),
            )
        });
        // Compare real positions only.
        let real = mask.to_kind(Kind::Float).unsqueeze(-1);
        assert_close(
            &format!("{name} clean"),
            &(clean * &real),
            &(&theirs["clean"] * &real),
            1e-4,
        );
        assert_close(
            &format!("{name} patched"),
            &(&patched * &real),
            &(&theirs["patched"] * &real),
            1e-4,
        );
        let moved = (&patched - &theirs["clean"]).abs().max().double_value(&[]);
        assert!(
            moved > 1e-2,
            "{name}: the patch changes the logits ({moved})"
        );
    }
}

/// Ten steps of our Adam, each after clipping the gradients by their joint
/// norm, against torch.optim.Adam and clip_grad_norm_ on the same gradients
/// and learning rates; with SAELens's default beta1 of 0 and with 0.9.
#[test]
fn adam_steps_equal_torch_optim_adam() {
    use featurescope::sae::optim::{Adam, clip_grad_norm};
    let _rng = common::torch_rng();
    tch::manual_seed(21);
    let opts = (Kind::Float, tch::Device::Cpu);
    let shapes: [&[i64]; 2] = [&[8, 5], &[5]];
    let steps = 10;
    let max_norm = 3.0;
    for beta1 in [0.0, 0.9] {
        let start: Vec<Tensor> = shapes.iter().map(|s| Tensor::randn(*s, opts)).collect();
        // Gradients of growing size: the early steps are not clipped, the
        // later ones are. The second parameter's are tiny, so that Adam's
        // epsilon shows in its updates.
        let grads: Vec<Vec<Tensor>> = (0..steps)
            .map(|s| {
                let scale = 0.2 * (1.0 + s as f64);
                vec![
                    Tensor::randn(shapes[0], opts) * scale,
                    Tensor::randn(shapes[1], opts) * 1e-6,
                ]
            })
            .collect();
        let lrs: Vec<f64> = (0..steps).map(|s| 1e-2 * (1.0 + s as f64 % 3.0)).collect();
        let tmp = tempfile::tempdir().unwrap();
        let inputs = tmp.path().join("inputs.safetensors");
        let mut named: Vec<(String, Tensor)> = vec![
            ("lr".into(), Tensor::from_slice(&lrs)),
            (
                "settings".into(),
                Tensor::from_slice(&[beta1, 0.999, max_norm]),
            ),
        ];
        for (i, p) in start.iter().enumerate() {
            named.push((format!("param.{i}"), p.shallow_clone()));
        }
        for (s, step) in grads.iter().enumerate() {
            for (i, g) in step.iter().enumerate() {
                named.push((format!("grad.{s}.{i}"), g.shallow_clone()));
            }
        }
        Tensor::write_safetensors(&named, &inputs).unwrap();
        let out = tmp.path().join("theirs.safetensors");
        python(
            "torch_adam_reference.py",
            &[path_str(&inputs), path_str(&out)],
        );
        let theirs = read(&out);

        let params: Vec<Tensor> = start.iter().map(Tensor::copy).collect();
        let refs: Vec<&Tensor> = params.iter().collect();
        let mut adam = Adam::new(&refs, beta1, 0.999);
        let mut clipped = 0;
        for (s, step) in grads.iter().enumerate() {
            let mut step: Vec<Tensor> = step.iter().map(Tensor::copy).collect();
            let norm = clip_grad_norm(&mut step, max_norm);
            let their_norm = theirs["norm"].double_value(&[s as i64]);
            assert!(
                (norm - their_norm).abs() <= 1e-5 * their_norm,
                "step {s}: norm {norm} vs {their_norm}"
            );
            clipped += usize::from(norm > max_norm);
            adam.step(&refs, &step, lrs[s]);
            // The updates so far, not the parameters, so that small differences show.
            for (i, p) in params.iter().enumerate() {
                assert_close(
                    &format!("beta1 {beta1}, step {s}, parameter {i}"),
                    &(p - &start[i]),
                    &(&theirs[&format!("param.{s}.{i}")] - &start[i]),
                    1e-4,
                );
            }
        }
        assert!(
            clipped > 0 && clipped < steps,
            "{clipped} of {steps} steps clipped"
        );
        // The parameters moved, so the comparison is not of the starting values.
        let moved = (&params[0] - &start[0]).abs().max().double_value(&[]);
        assert!(moved > 1e-2, "{moved}");
    }
}

/// The next-token losses behind `eval-sae`'s CE-loss recovered (clean, with
/// the reconstruction patched in, zero-ablated) and the recovered fraction,
/// against SAELens's own evaluation (get_downstream_reconstruction_metrics on
/// TransformerLens) and transformers, on a tiny GPT-2 with an SAE at block 0.
#[test]
fn ce_loss_recovered_matches_saelens_evaluation() {
    let _rng = common::torch_rng();
    let (tmp, models) = common::tiny_models();
    let model_dir = models.join("gpt2");
    let model = featurescope::model::load(&model_dir, tch::Device::Cpu).unwrap();
    let d = model.config().hidden_size;
    tch::manual_seed(5);
    let opts = (Kind::Float, tch::Device::Cpu);
    // x = relu(x) − relu(−x): a dictionary that would reconstruct exactly,
    // made lossy by noise in its decoder.
    let eye = Tensor::eye(d, opts);
    let w_enc = Tensor::cat(&[&eye, &-&eye], 1);
    let w_dec = Tensor::cat(&[&eye, &-&eye], 0) + Tensor::randn([2 * d, d], opts) * 0.3;
    let mut sae = Dictionary::new(
        featurescope::dataset::UnitKind::Sae,
        featurescope::sae::Activation::Relu,
        w_enc,
        w_dec,
    );
    sae.b_dec = Tensor::randn([d], opts) * 0.1;
    sae.apply_b_dec_to_input = true;
    sae.hook = Some(featurescope::model::HookPoint {
        layer: 0,
        site: featurescope::model::HookSite::ResidPost,
    });
    let sae_dir = tmp.path().join("sae");
    sae.save(&sae_dir).unwrap();
    let ids = Tensor::randint_low(1000, 30522, [3, 16], (Kind::Int64, tch::Device::Cpu));
    let mask = ids.ones_like();
    let inputs = tmp.path().join("inputs.safetensors");
    Tensor::write_safetensors(&[("ids", &ids)], &inputs).unwrap();
    let out = tmp.path().join("losses.json");
    python(
        "ce_loss_reference.py",
        &[
            path_str(&model_dir),
            path_str(&sae_dir),
            "0",
            path_str(&inputs),
            path_str(&out),
        ],
    );
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let theirs = |key: &str| reference["saelens"][key].as_f64().unwrap();
    let ours = featurescope::sae::eval::next_token_loss(model.as_ref(), &sae, &ids, &mask).unwrap();
    // Ids that are not [batch, seq] are an error, not a panic.
    let flat = ids.flatten(0, -1);
    let err = featurescope::sae::eval::next_token_loss(model.as_ref(), &sae, &flat, &flat)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("[batch, seq]"), "{err}");
    assert_eq!(ours.tokens, 3 * 15);
    for (what, ours, key) in [
        ("clean", ours.clean, "ce_loss_without_sae"),
        ("reconstructed", ours.reconstructed, "ce_loss_with_sae"),
        ("zero-ablated", ours.zero_ablated, "ce_loss_with_ablation"),
        ("recovered", ours.recovered, "ce_loss_score"),
    ] {
        let theirs = theirs(key);
        assert!(
            (ours - theirs).abs() <= 1e-4 * theirs.abs(),
            "{what}: ours {ours}, SAELens {theirs}"
        );
    }
    // The three losses are far enough apart for the share to mean something
    // (a random model's clean loss is above the zero-ablated one's).
    assert!(
        (ours.zero_ablated - ours.clean).abs() > 1.0
            && (ours.reconstructed - ours.clean).abs() > 0.1,
        "{ours:?}"
    );
}
