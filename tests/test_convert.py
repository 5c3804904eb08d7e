"""Weights from elsewhere: released checkpoints, diffusers FLUX.2 transformers and VAEs, local text
encoders (mofo/convert.py, mofo/checkpoint.py, the VAE section of mofo/codecs.py, mofo/text.py).

Every foreign model here is tiny, random and built offline; diffusers tests skip without diffusers.
"""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import randomize
from mofo.checkpoint import load_checkpoint, read_state_dict, save_checkpoint
from mofo.cli import main
from mofo.codecs import ImageCodec, KLVAECodec, make_image_codec
from mofo.config import ModelConfig, get_preset
from mofo.convert import from_diffusers, load_release, to_diffusers
from mofo.model import ModalityDiT, position_ids
from mofo.sampling import sample
from mofo.text import HFTextEncoder, load_text_encoder, minilm_path


@pytest.fixture
def diffusers():
    return pytest.importorskip("diffusers", minversion="0.42")


# ----------------------------------------------------------------------------- diffusers FLUX.2


def tiny_flux2(diffusers, guidance: bool, in_channels: int = 8, std: float = 0.2):
    """A random `Flux2Transformer2DModel`: 2 double + 2 single blocks, 2 heads of 16, text width 12."""
    model = diffusers.Flux2Transformer2DModel(
        in_channels=in_channels, num_layers=2, num_single_layers=2, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=12, axes_dims_rope=(4, 4, 4, 4), guidance_embeds=guidance,
    )
    return randomize(model, std=std).eval()


def flux2_inputs(b=2, h=3, w=4, txt_len=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    txt_ids, img_ids, _ = position_ids(h, w, txt_len)
    return dict(img=torch.randn(b, h * w, 8, generator=g), img_ids=img_ids, txt=torch.randn(b, txt_len, 12, generator=g),
                txt_ids=txt_ids, t_img=torch.rand(b, generator=g), guidance=1 + 4 * torch.rand(b, generator=g))


def test_position_ids_match_the_flux2_pipeline(diffusers):
    from diffusers.pipelines.flux2.pipeline_flux2_klein import Flux2KleinPipeline

    txt_ids, img_ids, _ = position_ids(3, 4, 5)
    assert torch.equal(img_ids, Flux2KleinPipeline._prepare_latent_ids(torch.zeros(1, 8, 3, 4))[0].float())
    assert torch.equal(txt_ids, Flux2KleinPipeline._prepare_text_ids(torch.zeros(1, 5, 12))[0].float())


@pytest.mark.parametrize("guidance", [True, False])
def test_diffusers_parity_and_roundtrip(diffusers, tmp_path, guidance):
    theirs = tiny_flux2(diffusers, guidance)
    theirs.save_pretrained(tmp_path / "flux2")
    ours, cfg = from_diffusers(tmp_path / "flux2")
    assert not ours.with_depth and cfg.guidance_embed == guidance and cfg.hidden_size == 32

    x = flux2_inputs()
    if not guidance:
        x["guidance"] = None
    with torch.no_grad():
        ref = theirs(hidden_states=x["img"], encoder_hidden_states=x["txt"], timestep=x["t_img"],
                     img_ids=x["img_ids"], txt_ids=x["txt_ids"], guidance=x["guidance"]).sample
        out, depth = ours(**x)
    assert depth is None
    assert (out - ref).abs().max() < 1e-5, (out - ref).abs().max()
    assert ref.abs().max() > 1  # the comparison is not between near-zero outputs

    to_diffusers(ours, tmp_path / "back")
    again = diffusers.Flux2Transformer2DModel.from_pretrained(tmp_path / "back", local_files_only=True)
    public = lambda c: {k: v for k, v in json.loads(json.dumps(dict(c), default=str)).items() if not k.startswith("_")}
    assert public(again.config) == {**public(theirs.config), "out_channels": 8}  # None there: = in_channels
    a, b = theirs.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_convert_command_both_ways(diffusers, tmp_path):
    tiny_flux2(diffusers, guidance=True).save_pretrained(tmp_path / "pipe" / "transformer")  # a pipeline folder
    (tmp_path / "cfg.json").write_text(json.dumps({"n_depth_decoder": 1, "resolution": 64}))
    assert main(["convert", "--from", "diffusers", str(tmp_path / "pipe"), "--config", str(tmp_path / "cfg.json"),
                 "--out", str(tmp_path / "ckpt")]) == 0
    model, info = load_checkpoint(tmp_path / "ckpt")
    assert info["source"]["format"] == "diffusers" and model.cfg.n_depth_decoder == 1 and model.cfg.resolution == 64
    assert main(["convert", "--to", "diffusers", str(tmp_path / "ckpt"), "--out", str(tmp_path / "back")]) == 0
    a = read_state_dict(tmp_path / "pipe" / "transformer")
    b = read_state_dict(tmp_path / "back")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_from_diffusers_names_bad_keys(diffusers, tmp_path):
    tiny_flux2(diffusers, guidance=False).save_pretrained(tmp_path)
    weights = tmp_path / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    state["transformer_blocks.0.attn.to_kk.weight"] = state.pop("transformer_blocks.0.attn.to_k.weight")
    save_file(state, weights)
    with pytest.raises(ValueError, match=r"missing keys \(1\): double_blocks\.0\.img_attn\.qkv\.weight.*"
                                         r"unexpected keys \(3\): .*to_q\.weight"):
        from_diffusers(tmp_path)


def test_to_diffusers_needs_a_t2i_model(tiny_cfg, tmp_path):
    with pytest.raises(ValueError, match="no depth stream"):
        to_diffusers(ModalityDiT(tiny_cfg), tmp_path)


# ----------------------------------------------------------------------------- released checkpoints

# The release-v2 architecture at toy size: same parameter names and token layout (128-value
# latent tokens, 16x16 depth patches), 32 wide.
TINY_RELEASE = dict(hidden_size=32, num_heads=2, n_double=1, n_single=2, n_depth_decoder=1,
                    axes_dim=[4, 4, 4, 4], resolution=32, text_encoder="bytes", txt_dim=16, txt_len=8)
HEADS = ("final_layer.", "depth_final_layer.")


@pytest.fixture
def release_dir(tmp_path):
    """Two shards + index, as the release: bf16 body, fp32 heads. Returns (folder, the stored tensors)."""
    cfg = get_preset("release-v2").replace(**{**TINY_RELEASE, "axes_dim": (4, 4, 4, 4)})
    state = {k: v.to(torch.float32 if k.startswith(HEADS) else torch.bfloat16)
             for k, v in randomize(ModalityDiT(cfg), seed=3).state_dict().items()}
    names = sorted(state)
    shards = {f"model-0000{i + 1}-of-00002.safetensors": names[i::2] for i in range(2)}
    folder = tmp_path / "release"
    folder.mkdir()
    for file, keys in shards.items():
        save_file({k: state[k] for k in keys}, folder / file)
    index = {"metadata": {}, "weight_map": {k: file for file, keys in shards.items() for k in keys}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder, state


def test_release_loads_strictly_and_samples_every_mode(release_dir):
    folder, state = release_dir
    model = load_release(folder, "v2", TINY_RELEASE)
    cfg = model.cfg
    assert cfg.time_mixing and cfg.patch_size == 16 and cfg.image_channels == 128 and cfg.shift_mu == 1.1
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    assert all(v.dtype == torch.float32 and torch.equal(v, state[k].float()) for k, v in loaded.items())

    g = torch.Generator().manual_seed(0)
    grid, n = (2, 2), 4
    txt, unc = torch.randn(1, cfg.txt_len, cfg.txt_dim, generator=g), torch.zeros(1, cfg.txt_len, cfg.txt_dim)
    clean = dict(image=torch.randn(1, n, 128, generator=g), depth=torch.rand(1, n, 256, generator=g))
    for mode in ("joint", "i2d", "d2i"):
        img, depth = sample(model, mode, txt, unc, grid, steps=2, cfg_scale=2.0, generator=g, **clean)
        assert img.shape == (1, n, 128) and depth.shape == (1, n, 256)
        assert torch.isfinite(img).all() and torch.isfinite(depth).all()


def test_convert_release_command(release_dir, tmp_path):
    folder, state = release_dir
    (tmp_path / "tiny.json").write_text(json.dumps(TINY_RELEASE))
    argv = ["convert", "--from", "release", str(folder), "--variant", "v2", "--config", str(tmp_path / "tiny.json"),
            "--dtype", "bfloat16", "--out", str(tmp_path / "ckpt")]
    assert main(argv) == 0
    model, info = load_checkpoint(tmp_path / "ckpt")
    assert info["source"] == {"format": "release", "path": str(folder), "variant": "v2"}
    assert all(torch.equal(v, state[k].bfloat16()) for k, v in model.state_dict().items())
    assert main(argv[:3] + argv[5:]) == 2  # no --variant: a usage error


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.__setitem__("img_in.weights", s.pop("img_in.weight")),
     r"missing keys \(1\): img_in\.weight; unexpected keys \(1\): img_in\.weights"),
    (lambda s: s.__setitem__("txt_in.weight", s["txt_in.weight"][:, :8].contiguous()),
     r"shape mismatches \(1\): txt_in\.weight \(32, 8\) \(expected \(32, 16\)\)"),
])
def test_release_errors_name_the_keys(release_dir, damage, message):
    folder, _ = release_dir
    file = folder / "model-00001-of-00002.safetensors"
    shard = load_file(file)
    shard.update(load_file(folder / "model-00002-of-00002.safetensors"))
    (folder / "model-00002-of-00002.safetensors").unlink()
    (folder / "model.safetensors.index.json").unlink()
    damage(shard)
    save_file(shard, file)
    with pytest.raises(ValueError, match=message):
        load_release(folder, "v2", TINY_RELEASE)


# ----------------------------------------------------------------------------- our checkpoints


def test_checkpoint_roundtrip_is_readable_by_the_trainer(tiny_cfg, tmp_path):
    model = randomize(ModalityDiT(tiny_cfg.replace(time_mixing=True)), seed=5)
    save_checkpoint(model, tmp_path / "ckpt", extra={"step": 7})
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    loaded, info = load_checkpoint(tmp_path / "ckpt")
    assert info["step"] == 7 and loaded.cfg == model.cfg
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- VAE codecs

TINY_VAE = dict(down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                block_out_channels=(8, 16), latent_channels=4, norm_num_groups=4, layers_per_block=1)


def images(b=2, size=16, seed=0):
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_flux2_vae_codec_matches_the_pipeline(diffusers, tmp_path):
    from diffusers.pipelines.flux2.pipeline_flux2_klein import Flux2KleinPipeline as Pipe

    vae = randomize(diffusers.AutoencoderKLFlux2(**TINY_VAE), seed=1, std=0.3).eval()
    vae.bn.running_mean.normal_(generator=torch.Generator().manual_seed(2))
    vae.bn.running_var.uniform_(0.5, 2.0, generator=torch.Generator().manual_seed(3))
    vae.save_pretrained(tmp_path / "pipe" / "vae")
    cfg = ModelConfig(hidden_size=32, num_heads=2, axes_dim=(4, 4, 4, 4), resolution=16, patch_size=4,
                      image_codec="flux2-vae", image_channels=16)
    codec = make_image_codec(cfg, tmp_path / "pipe")
    assert (codec.channels, codec.downsample) == (16, 4)

    x = images()
    tokens = codec.encode(x)
    with torch.no_grad():  # what Flux2 pipelines feed the transformer for an image
        latents = Pipe._patchify_latents(vae.encode(x * 2 - 1).latent_dist.mode())
        std = torch.sqrt(vae.bn.running_var + vae.config.batch_norm_eps)
        expected = Pipe._pack_latents((latents - vae.bn.running_mean[:, None, None]) / std[:, None, None])
        decoded = (vae.decode(vae.encode(x * 2 - 1).latent_dist.mode()).sample.clamp(-1, 1) + 1) / 2
    assert tokens.shape == (2, 16, 16)
    torch.testing.assert_close(tokens, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(codec.decode(tokens, 4, 4), decoded, rtol=0, atol=1e-5)


def test_kl_vae_codec_scaling(diffusers, tmp_path):
    from diffusers.pipelines.flux.pipeline_flux import FluxPipeline

    vae = randomize(diffusers.AutoencoderKL(**TINY_VAE, scaling_factor=0.4, shift_factor=0.1), seed=4, std=0.3)
    vae.eval().save_pretrained(tmp_path)
    codec = KLVAECodec.from_pretrained(tmp_path)
    x = images(size=8)
    tokens = codec.encode(x)
    with torch.no_grad():
        z = vae.encode(x * 2 - 1).latent_dist.mode()
        expected = FluxPipeline._pack_latents((z - 0.1) * 0.4, 2, 4, 4, 4)
        decoded = (vae.decode(z).sample.clamp(-1, 1) + 1) / 2
    assert tokens.shape == (2, 4, 16) and codec.downsample == 4
    torch.testing.assert_close(tokens, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(codec.decode(tokens, 2, 2), decoded, rtol=0, atol=1e-5)


def test_make_image_codec_checks(diffusers, tmp_path):
    assert make_image_codec(ModelConfig()) == ImageCodec(4)
    cfg = ModelConfig(image_codec="kl-vae", image_channels=64, patch_size=16, resolution=32)
    with pytest.raises(ValueError, match="local folder"):
        make_image_codec(cfg)
    diffusers.AutoencoderKL(**TINY_VAE).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="gives 16 values per 4-px token, the model expects 64 per 16-px"):
        make_image_codec(cfg, tmp_path)


# ----------------------------------------------------------------------------- text encoders

CHAT = "{% for m in messages %}<{{ m.role }}> {{ m.content }}{% endfor %}{% if add_generation_prompt %} <bot>{% endif %}"


@pytest.fixture
def tiny_bert(tmp_path):
    """A random 3-layer BERT (width 16) saved with the MiniLM tokenizer and a toy chat template."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(BertConfig(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32)
              ).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
    tokenizer.chat_template = CHAT
    tokenizer.save_pretrained(tmp_path)
    return tmp_path


def test_hf_text_encoder_concatenates_layers(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    encoder = HFTextEncoder(tiny_bert, max_len=12, layers=(1, 3, -1), chat_template=True)
    out = encoder(["a red cube", ""])
    assert encoder.dim == 48 and out.shape == (2, 12, 48) and out.dtype == torch.float32

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert, local_files_only=True)
    model = AutoModel.from_pretrained(tiny_bert, local_files_only=True).eval()
    batch = tokenizer(["<user> a red cube <bot>", "<user>  <bot>"], padding="max_length", max_length=12,
                      truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states
    torch.testing.assert_close(out, torch.cat([hidden[1], hidden[3], hidden[3]], dim=-1))


def test_load_text_encoder_by_name_or_folder(tiny_bert):
    encoder = load_text_encoder(str(tiny_bert), dim=16, max_len=8)
    assert encoder([""]).shape == (1, 8, 16) and not encoder.chat_template
    with pytest.raises(ValueError, match="qwen3-8b.*local folder"):
        load_text_encoder("qwen3-8b", dim=12288, max_len=512)
    with pytest.raises(ValueError, match="gives 16 values"):
        load_text_encoder(str(tiny_bert), dim=32, max_len=8)


# ----------------------------------------------------------------------------- post-training


POST = """
stage = "post"
data = "synth"
steps = 2
batch_size = 2
warmup = 1
ckpt_every = 2
sample_every = 1000
precision = "fp32"
"""


def test_post_training_starts_from_a_converted_flux2(diffusers, tmp_path):
    from mofo.train import make_train_config, train

    # pixel-space FLUX.2 at toy size: 4x4x3 patches (48 values), byte text encoder of width 12
    tiny_flux2(diffusers, guidance=True, in_channels=48, std=0.05).save_pretrained(tmp_path / "flux2")
    t2i, cfg = from_diffusers(tmp_path / "flux2", image_codec="pixel", patch_size=4, resolution=16, txt_len=8,
                              n_depth_decoder=1)
    save_checkpoint(t2i, tmp_path / "t2i")
    (tmp_path / "post.toml").write_text(POST + f'init = "{tmp_path / "t2i"}"\n')
    final = train(make_train_config(tmp_path / "post.toml"), tmp_path / "run")
    model, _ = load_checkpoint(final)
    assert model.with_depth and model.cfg.guidance_embed and cfg.text_encoder == "bytes"
    start = t2i.state_dict()
    moved = [k for k, v in model.state_dict().items() if k in start and not torch.equal(v, start[k])]
    assert "double_blocks.0.img_attn.qkv.weight" in moved  # the image stream was trained from FLUX.2's weights
