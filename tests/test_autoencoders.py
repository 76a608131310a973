"""The study's autoencoders: sizes, summaries, training, saving and safe loading."""


import numpy as np
import pytest
import torch

from fashion_cluster.autoencoders import (
    ConvAutoencoderNet,
    DenseAutoencoderNet,
    count_parameters,
    encode,
    summary,
)
from fashion_cluster.training import TrainingError, train_autoencoder


def test_dense_parameter_count_matches_study():
    model = DenseAutoencoderNet()
    assert count_parameters(model) == 813_377
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in layers] == [
        (784, 512), (512, 256), (256, 128), (128, 49), (49, 128), (128, 256), (256, 784)]


def test_conv_parameter_count_matches_study():
    model = ConvAutoencoderNet()
    assert count_parameters(model) == 38_786
    x = torch.rand(3, 784)
    assert model.encode(x).shape == (3, 49) and model(x).shape == (3, 784)


def test_conv_other_image_sizes():
    model = ConvAutoencoderNet(image_shape=(3, 32, 36))
    assert model(torch.rand(2, 32 * 36 * 3)).shape == (2, 32 * 36 * 3)
    assert model.code_shape == (8, 9)
    with pytest.raises(ValueError, match="divisible by 4"):
        ConvAutoencoderNet(image_shape=(1, 30, 28))


def test_summary_is_keras_like():
    text = summary(DenseAutoencoderNet())
    assert "Total params: 813,377" in text and "(None, 49)" in text
    assert "Output Shape" in text and "Param #" in text
    assert "(None, 1, 7, 7)" in summary(ConvAutoencoderNet())


@pytest.mark.slow
def test_codes_in_unit_interval_and_training_lowers_loss():
    rng = np.random.default_rng(0)
    x = rng.random((512, 784), dtype=np.float32)
    torch.manual_seed(0)
    model = DenseAutoencoderNet()
    history = train_autoencoder(model, x, x[:64], epochs=3, batch_size=64)
    assert len(history.loss) == 3 and history.loss[-1] < history.loss[0]
    assert len(history.val_loss) == 3 and history.train_seconds > 0
    codes = encode(model, x)
    assert codes.shape == (512, 49) and codes.min() >= 0 and codes.max() <= 1


def test_nan_loss_stops_training_with_epoch():
    x = np.full((64, 784), np.nan, dtype=np.float32)
    with pytest.raises(TrainingError, match="at epoch 1: try a lower learning rate"):
        train_autoencoder(DenseAutoencoderNet(), x, epochs=2, batch_size=32)


def test_training_matches_the_plain_loop(device):
    """train_autoencoder against the plain loop: autograd, then Adam(fused=True).step()
    on the whole model."""
    x = np.random.default_rng(0).random((600, 784), dtype=np.float32)
    torch.manual_seed(0)
    ours = DenseAutoencoderNet().to(device)
    plain = DenseAutoencoderNet().to(device)
    plain.load_state_dict(ours.state_dict())
    history = train_autoencoder(ours, x, epochs=2, batch_size=256, seed=3)

    xt = torch.from_numpy(x).to(device)
    optimizer = torch.optim.Adam(plain.parameters(), lr=1e-3, eps=1e-7, fused=True)
    generator = torch.Generator(device=device)
    generator.manual_seed(3)
    losses = []
    for _ in range(2):
        order = torch.randperm(len(x), generator=generator, device=device)
        total = 0.0
        for begin in range(0, len(x), 256):
            xb = xt[order[begin:begin + 256]]
            loss = torch.nn.functional.mse_loss(plain(xb), xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        losses.append(total / len(x))
    assert history.loss == pytest.approx(losses, rel=1e-5)
    for (name, p), q in zip(ours.named_parameters(), plain.parameters(), strict=True):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), name


def test_conv_encoder_matches_the_study_layer_order():
    """Our encoder pools before its ReLUs (cheaper); the study's order gives the same codes
    and the same gradients."""
    torch.manual_seed(0)
    model = ConvAutoencoderNet()
    e = model.encoder
    study_order = torch.nn.Sequential(e[0], e[2], e[1], e[3], e[5], e[4], e[6], e[7])
    x = torch.rand(8, 784).reshape(8, 28, 28, 1).permute(0, 3, 1, 2) - 0.3
    ours, theirs = e(x), study_order(x)
    assert torch.equal(ours, theirs)
    grads = [torch.autograd.grad(out.square().sum(), list(e.parameters()))
             for out in (ours, theirs)]
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)


def test_encoding_batch_size_does_not_change_codes():
    torch.manual_seed(0)
    model = ConvAutoencoderNet()
    x = np.random.default_rng(0).random((300, 784), dtype=np.float32)
    assert model.eval_batch < len(x)
    assert np.allclose(encode(model, x), encode(model, x, batch_size=len(x)), atol=1e-6)
