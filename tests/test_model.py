"""The Semantic-VAE network: shapes, sizes, Table 1 variants, the optimisation step."""

import pytest
import torch

from semantic_vae.errors import UserError
from semantic_vae.losses import kl_divergence, weighted_cross_entropy
from semantic_vae.model import SemanticVAE, VAEConfig, one_hot

VARIANTS = [  # (lstm_layers, bidirectional)
    (0, False),
    (1, False),
    (3, False),
    (3, True),
]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def lstm_params(layers: int, bidirectional: bool, d_in: int = 256, hidden: int = 256) -> int:
    """Hand count: 4 gates x (input weights + recurrent weights + 2 biases), per layer and direction."""
    dirs = 2 if bidirectional else 1
    total = 0
    for layer in range(layers):
        inp = d_in if layer == 0 else hidden * dirs
        total += dirs * 4 * hidden * (inp + hidden + 2)
    return total


@pytest.mark.parametrize("size,width", [(64, 8), (256, 8)])
@pytest.mark.parametrize("layers,bidir", VARIANTS)
def test_output_shapes(size, width, layers, bidir):
    torch.manual_seed(0)
    model = SemanticVAE(
        VAEConfig(num_classes=19, image_size=size, lstm_layers=layers, bidirectional=bidir, decoder_width=width)
    )
    labels = torch.randint(0, 19, (2, size, size))
    logits, mu, logvar = model(one_hot(labels, 19))
    assert logits.shape == (2, 19, size, size)
    assert mu.shape == logvar.shape == (2, 19, 256)
    assert model.decode_latents(mu).shape == (2, 19, size, size)


def test_full_size_parameter_count_is_about_25M():
    model = SemanticVAE(VAEConfig(num_classes=19, image_size=256, decoder_width=64))
    assert abs(n_params(model) - 25e6) / 25e6 < 0.10
    first = model.encoder.mlp[0]
    assert first.in_features == 256 * 256 and first.out_features == 256  # ~17M of the 25M
    assert len(model.decoder.blocks) == 4


def test_block_count_follows_image_size():
    assert len(SemanticVAE(VAEConfig(image_size=64, decoder_width=8)).decoder.blocks) == 2
    assert len(SemanticVAE(VAEConfig(image_size=32, decoder_width=8)).decoder.blocks) == 1
    with pytest.raises(UserError, match="image_size must be 16 times a power of two .*got 48"):
        SemanticVAE(VAEConfig(image_size=48))


@pytest.mark.parametrize("layers,bidir", VARIANTS)
def test_variants_differ_only_in_the_mixer(layers, bidir):
    base = SemanticVAE(VAEConfig(image_size=64, lstm_layers=0, decoder_width=8))
    variant = SemanticVAE(VAEConfig(image_size=64, lstm_layers=layers, bidirectional=bidir, decoder_width=8))
    assert n_params(variant.encoder) == n_params(base.encoder)
    assert n_params(variant.decoder) == n_params(base.decoder)
    lstm = variant.mixer.lstm
    assert (lstm is None) == (layers == 0)
    assert (n_params(lstm) if lstm else 0) == lstm_params(layers, bidir)
    ffn_in = 256 * (2 if bidir else 1) if layers else 256
    assert n_params(variant.mixer.ffn) == ffn_in * 1024 + 1024 + 1024 * 256 + 256
    assert n_params(variant.mixer) == lstm_params(layers, bidir) + n_params(variant.mixer.ffn)


def test_no_lstm_variant_has_no_recurrent_weights():
    model = SemanticVAE(VAEConfig(image_size=64, lstm_layers=0, decoder_width=8))
    assert not any("lstm" in name or "weight_hh" in name for name, _ in model.named_parameters())


def test_reference_code_encoder_variant():
    model = SemanticVAE(
        VAEConfig(image_size=256, encoder_hidden=(1024, 512, 256), encoder_input_size=128, decoder_width=8)
    )
    assert model.encoder.mlp[0].in_features == 128 * 128
    assert [m.out_features for m in model.encoder.mlp if isinstance(m, torch.nn.Linear)] == [1024, 512, 256]
    mu, _ = model.encode(one_hot(torch.randint(0, 19, (1, 256, 256)), 19))
    assert mu.shape == (1, 19, 256)


def test_eval_mode_is_deterministic_and_uses_the_mean():
    torch.manual_seed(0)
    model = SemanticVAE(VAEConfig(image_size=64, decoder_width=8)).eval()
    x = one_hot(torch.randint(0, 19, (2, 64, 64)), 19)
    a, mu, _ = model(x)
    b, _, _ = model(x)
    assert torch.equal(a, b)
    assert torch.equal(a, model.decode_latents(mu))


def test_one_optimisation_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = SemanticVAE(VAEConfig(image_size=64, lstm_hidden=64, ffn_hidden=128, decoder_width=8))
    labels = torch.randint(0, 19, (4, 64, 64))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.eval()  # the mean, so the two losses compare the same function

    def loss() -> torch.Tensor:
        logits, mu, logvar = model(one_hot(labels, 19))
        return weighted_cross_entropy(logits, labels, None) + 5e-4 * kl_divergence(mu, logvar)

    before = loss()
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = loss()
    assert after < before


def test_one_hot_from_uint8():
    labels = torch.tensor([[[0, 2], [1, 2]]], dtype=torch.uint8)
    x = one_hot(labels, 3)
    assert x.shape == (1, 3, 2, 2)
    assert torch.equal(x.argmax(1), labels.long())
    assert x.sum(1).eq(1).all()


def test_one_hot_equals_torch_one_hot_and_is_contiguous():
    labels = torch.randint(0, 19, (3, 17, 23), generator=torch.Generator().manual_seed(0))
    expected = torch.nn.functional.one_hot(labels, 19).permute(0, 3, 1, 2).float()
    for dtype in (torch.uint8, torch.int64):
        x = one_hot(labels.to(dtype), 19)
        assert torch.equal(x, expected)
        assert x.is_contiguous()  # NCHW: the encoder's flatten(2) is a view, not a copy
    assert one_hot(labels, 19, torch.bfloat16).dtype == torch.bfloat16


def test_class_map_is_argmax_ties_included():
    """`class_map` (max(1).indices, the fast path) picks argmax's class everywhere, the first one on ties."""
    from semantic_vae.model.vae import class_map

    torch.manual_seed(0)
    logits = torch.randint(0, 3, (4, 19, 16, 16)).float()  # many ties
    logits[0, :, 0, 0] = 1.0  # all 19 tie: class 0
    logits[1, 7:, 3, 3] = torch.inf
    assert torch.equal(class_map(logits), logits.argmax(1))
    assert class_map(logits)[0, 0, 0] == 0 and class_map(logits)[1, 3, 3] == 7


def test_background_from_context_has_no_latent_but_a_predicted_logit():
    torch.manual_seed(0)
    config = VAEConfig(image_size=32, decoder_width=8, lstm_hidden=16, ffn_hidden=16, background="context")
    model = SemanticVAE(config).eval()
    assert config.latent_classes == tuple(range(1, 19)) and model.encoder.first_channel == 1
    labels = torch.randint(0, 19, (2, 32, 32))
    logits, mu, _ = model(one_hot(labels, 19))
    assert mu.shape == (2, 18, 256) and logits.shape == (2, 19, 32, 32)
    assert model.decoder.head[-1].out_channels == 19  # the background's logit is decoded, not derived
    with pytest.raises(UserError, match="the background has no latent"):
        model.latent_rows([0])


def test_latent_skip_adds_each_part_latent_to_its_mixed_latent():
    torch.manual_seed(0)
    plain = SemanticVAE(VAEConfig(image_size=32, decoder_width=8, lstm_hidden=16, ffn_hidden=16))
    skip = SemanticVAE(VAEConfig(image_size=32, decoder_width=8, lstm_hidden=16, ffn_hidden=16, latent_skip=True))
    skip.load_state_dict(plain.state_dict())  # the same weights: the skip has none of its own
    z = torch.randn(2, 19, 256)
    assert torch.allclose(skip.mix(z), plain.mix(z) + z)


def test_logit_upsample_draws_at_half_size_and_interpolates_bilinearly():
    torch.manual_seed(0)
    config = VAEConfig(image_size=64, decoder_width=8, lstm_hidden=16, ffn_hidden=16, logit_upsample=2)
    model = SemanticVAE(config).eval()
    assert len(model.decoder.blocks) == 1  # 16 -> 32, then x2 bilinear to 64
    z = torch.randn(2, 19, 256)
    decoder = model.decoder
    coarse = decoder.head(decoder.blocks(decoder.stem(z.view(2, 19, 16, 16))))  # (2, 19, 32, 32)
    expected = torch.nn.functional.interpolate(coarse, size=(64, 64), mode="bilinear", align_corners=False)
    assert torch.allclose(decoder(z), expected, atol=1e-5)
    with pytest.raises(UserError, match="logit_upsample must be 1 or 2"):
        VAEConfig(logit_upsample=4)
    with pytest.raises(UserError, match="image_size must be 32 times a power of two .*got 16"):
        VAEConfig(image_size=16, logit_upsample=2)


def test_compiled_logit_upsample_passes_the_gradient_under_deterministic_algorithms():
    import copy

    from semantic_vae.model.decoder import MaskDecoder

    torch.manual_seed(0)
    decoder = MaskDecoder(VAEConfig(image_size=64, decoder_width=8, logit_upsample=2))
    for p in decoder.parameters():
        torch.nn.init.normal_(p, std=0.05)  # the zero-initialised convs would hide a lost gradient
    compiled = copy.deepcopy(decoder)
    compiled.compile()
    z, w = torch.randn(2, 19, 256, requires_grad=True), torch.randn(2, 19, 64, 64)
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        (eager_grad,) = torch.autograd.grad((decoder(z) * w).sum(), z)
        (compiled_grad,) = torch.autograd.grad((compiled(z) * w).sum(), z)
    finally:
        torch.use_deterministic_algorithms(before)
    assert eager_grad.norm() > 0 and torch.allclose(compiled_grad, eager_grad, atol=1e-5)


def test_part_decoder_draws_each_latent_alone_at_the_masks_size():
    from semantic_vae.model.part_decoder import PartSilhouetteDecoder

    torch.manual_seed(0)
    decoder = PartSilhouetteDecoder(VAEConfig(image_size=128, decoder_width=8))
    z = torch.randn(2, 19, 256)
    out = decoder(z)
    assert out.shape == (2, 19, 128, 128)
    changed = z.clone()
    changed[:, 4] += 1.0  # one latent moved: only its own silhouette changes
    moved = (decoder(changed) != out).flatten(2).any(-1)
    assert moved[:, 4].all() and not moved[:, [c for c in range(19) if c != 4]].any()
