"""Small hand-built standard models for the tests, each with a learnable synthetic task.

Four architectures learners point gradlab at, built from torch modules (no `transformers`):

- `resnet18_style`: a ResNet-18-shaped CNN (stem, 4 stages x 2 BasicBlocks with BatchNorm, global
  average pool, linear head) on digits upsampled to (N, 1, 28, 28). Batch: a tuple (x, y), loss
  cross-entropy on its logits.
- `gpt2_style`: a pre-norm decoder with a fused qkv projection, GELU MLPs, ln_f and an lm_head tied
  to the token embedding. forward(input_ids, attention_mask=None, labels=None) returns the
  dataclass `CausalLMOutput(loss, logits)` (HF-style: loss is the shifted next-token loss).
  Batch: a dict {"input_ids", "labels"}.
- `bert_style`: a post-norm encoder with separate query/key/value projections, a tanh pooler on
  [CLS] and a classification head. forward(input_ids, attention_mask=None, labels=None) returns a
  `SequenceClassifierOutput`, a dict with attribute access like HF's ModelOutput.
  Batch: a dict {"input_ids", "attention_mask", "labels"} with padded sequences.
- `lstm_lm`: embedding, 2-layer nn.LSTM, linear decoder. forward(input_ids) returns the logits
  tensor (batch, seq, vocab); batch: a tuple (input_ids, labels) for `token_cross_entropy`.

`gap_cnn` is the plain CNN that global-average-pools a 28x28 map (Issue 16, item 7's open case).

Every builder draws its weights inside torch.random.fork_rng from its `seed`, so building leaves
the global RNG alone and the same seed gives the same weights. Batch makers take the step and
build the batch from a torch.Generator seeded with (seed, step). `train_healthy` trains with a
standard recipe (AdamW lr 1e-3 for the transformers, 3e-3 for the LSTM, SGD with momentum
for the CNNs).
Used by tests/test_healthy_models.py (and any test that needs a realistic model).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor] | dict[str, torch.Tensor]


# ----------------------------------------------------------------------------- outputs
@dataclass
class CausalLMOutput:
    """What a causal language model returns (as transformers' CausalLMOutput)."""

    loss: torch.Tensor | None  # shifted next-token cross-entropy, when labels were given
    logits: torch.Tensor  # (batch, seq, vocab)


class SequenceClassifierOutput(dict):
    """A dict whose entries are also attributes, like transformers' ModelOutput.

    Keys that are None are left out of the dict (as in transformers), attributes are always there.
    """

    def __init__(self, loss: torch.Tensor | None, logits: torch.Tensor) -> None:
        super().__init__(
            {"loss": loss, "logits": logits} if loss is not None else {"logits": logits}
        )
        self.loss = loss
        self.logits = logits


def token_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of (batch, seq, vocab) logits against (batch, seq) token labels."""
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten())


# ----------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, plus the identity or a 1x1 conv-BN shortcut, ReLU after the add."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.downsample = None
        if stride != 1 or inputs != outputs:
            self.downsample = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += shortcut
        return self.relu(out)


class ResNetStyle(nn.Module):
    """ResNet-18's shape at a small width: stem, layer1..layer4 of two BasicBlocks, pool, fc."""

    def __init__(self, num_classes: int, width: int) -> None:
        super().__init__()
        # A stride-2 stem as in ResNet (whose 7x7/2 conv and max-pool quarter the map): 28 -> 14.
        self.conv1 = nn.Conv2d(1, width, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        channels, stages = width, []
        for stage in range(4):
            outputs = width * 2**stage
            stride = 1 if stage == 0 else 2
            stages.append(
                nn.Sequential(
                    BasicBlock(channels, outputs, stride), BasicBlock(outputs, outputs, 1)
                )
            )
            channels = outputs
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():  # torchvision's init
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18_style(num_classes: int = 10, width: int = 8, *, seed: int = 0) -> ResNetStyle:
    """A ResNet-18-style CNN for (N, 1, 28, 28) inputs (see ResNetStyle)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ResNetStyle(num_classes, width)


def gap_cnn(width: int = 16, *, seed: int = 0) -> nn.Sequential:
    """Four 3x3 conv-ReLU layers at full 28x28 resolution, global average pool, linear head.

    Its last conv's output has 28*28 times the elements of the pooled features, so the gradient
    reaching each element is spread thin: the case a per-layer output-gradient norm misread.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        channels = 1
        for _ in range(4):
            conv = nn.Conv2d(channels, width, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU()]
            channels = width
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


@cache
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn's 1,797 8x8 digits, scaled to [0, 1] and upsampled to 28x28 (shipped, no download)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    images = (images - images.mean()) / images.std()
    return images, torch.tensor(digits.target, dtype=torch.int64)


def digit_batch(step: int, *, batch_size: int = 16, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(x, y): x (batch_size, 1, 28, 28) standardized digits, y their labels 0-9."""
    images, labels = _digits()
    generator = torch.Generator().manual_seed(seed * 100_003 + step)
    index = torch.randint(0, len(labels), (batch_size,), generator=generator)
    return images[index], labels[index]


# ----------------------------------------------------------------------------- GPT-2
class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with GPT-2's fused qkv projection (c_attn) and c_proj."""

    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        batch, seq, d_model = x.shape
        q, k, v = self.c_attn(x).split(d_model, dim=2)
        q, k, v = (t.view(batch, seq, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        mask = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
        if key_mask is not None:
            mask = mask & key_mask[:, None, None, :].bool()
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.c_proj(out.transpose(1, 2).reshape(batch, seq, d_model))


class GPT2MLP(nn.Module):
    """c_fc, GELU (GPT-2's tanh approximation), c_proj."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(d_model, 4 * d_model)
        self.act = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.act(self.c_fc(x)))


class GPT2Block(nn.Module):
    """Pre-norm: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = GPT2MLP(d_model)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), key_mask)
        return x + self.mlp(self.ln_2(x))


class GPT2Style(nn.Module):
    """Token + position embeddings, n_layer pre-norm blocks (transformer.h.N), ln_f, tied lm_head."""

    def __init__(self, vocab: int, d_model: int, n_layer: int, n_head: int, block: int) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(vocab, d_model),
                "wpe": nn.Embedding(block, d_model),
                "h": nn.ModuleList(GPT2Block(d_model, n_head) for _ in range(n_layer)),
                "ln_f": nn.LayerNorm(d_model),
            }
        )
        self.lm_head = nn.Linear(d_model, vocab, bias=False)
        self.lm_head.weight = self.transformer["wte"].weight  # tied: one Parameter
        # GPT-2's init: N(0, 0.02), the residual projections scaled by 1/sqrt(2 n_layer).
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(param)
            elif param.dim() >= 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(param, std=std)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> CausalLMOutput:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.transformer["wte"](input_ids) + self.transformer["wpe"](positions)
        for block in self.transformer["h"]:
            x = block(x, attention_mask)
        logits = self.lm_head(self.transformer["ln_f"](x))
        loss = None
        if labels is not None:  # position t predicts token t + 1
            loss = token_cross_entropy(logits[:, :-1], labels[:, 1:])
        return CausalLMOutput(loss=loss, logits=logits)


def gpt2_style(
    vocab: int = 64,
    d_model: int = 32,
    n_layer: int = 4,
    n_head: int = 4,
    block: int = 16,
    *,
    seed: int = 0,
) -> GPT2Style:
    """A GPT-2-style language model (see GPT2Style)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPT2Style(vocab, d_model, n_layer, n_head, block)


def progression_tokens(
    step: int, *, vocab: int = 64, batch_size: int = 16, length: int = 16, seed: int = 0
) -> torch.Tensor:
    """(batch_size, length) token sequences x_t = (a + b t) mod vocab, a random, b in {1, 2, 3}.

    Learnable: each token follows from the one before up to the 3 possible steps b (a bigram
    model reaches log 3), and from the two before exactly.
    """
    generator = torch.Generator().manual_seed(seed * 100_003 + step)
    start = torch.randint(0, vocab, (batch_size, 1), generator=generator)
    stride = torch.randint(1, 4, (batch_size, 1), generator=generator)
    return (start + stride * torch.arange(length)) % vocab


def lm_batch(step: int, *, batch_size: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    """{"input_ids", "labels"} for gpt2_style: labels are the input ids (the model shifts them)."""
    tokens = progression_tokens(step, batch_size=batch_size, seed=seed)
    return {"input_ids": tokens, "labels": tokens.clone()}


# ----------------------------------------------------------------------------- BERT
PAD, CLS = 0, 1  # bert_style's special tokens; tokens 2..1+num_labels are the class markers


class BertSelfAttention(nn.Module):
    """Multi-head attention with BERT's separate query, key and value projections."""

    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        batch, seq, d_model = x.shape
        q, k, v = (
            proj(x).view(batch, seq, self.n_head, -1).transpose(1, 2)
            for proj in (self.query, self.key, self.value)
        )
        mask = None if key_mask is None else key_mask[:, None, None, :].bool()
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return out.transpose(1, 2).reshape(batch, seq, d_model)


class BertLayer(nn.Module):
    """Post-norm: LayerNorm(x + dense(attn(x))), then LayerNorm(x + output(GELU(intermediate(x))))."""

    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.attention = BertSelfAttention(d_model, n_head)
        self.attention_output = nn.Linear(d_model, d_model)
        self.attention_norm = nn.LayerNorm(d_model)
        self.intermediate = nn.Linear(d_model, 4 * d_model)
        self.activation = nn.GELU()
        self.output = nn.Linear(4 * d_model, d_model)
        self.output_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        x = self.attention_norm(x + self.attention_output(self.attention(x, key_mask)))
        return self.output_norm(x + self.output(self.activation(self.intermediate(x))))


class BertStyle(nn.Module):
    """Embeddings + LayerNorm, n_layer post-norm layers (encoder.layer.N), tanh pooler, classifier."""

    def __init__(
        self, vocab: int, d_model: int, n_layer: int, n_head: int, num_labels: int
    ) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d_model, padding_idx=PAD)
        self.position_embeddings = nn.Embedding(64, d_model)
        self.embedding_norm = nn.LayerNorm(d_model)
        self.encoder = nn.ModuleDict(
            {"layer": nn.ModuleList(BertLayer(d_model, n_head) for _ in range(n_layer))}
        )
        self.pooler = nn.Linear(d_model, d_model)
        self.classifier = nn.Linear(d_model, num_labels)
        for module in self.modules():  # BERT's init: N(0, 0.02), zero biases, padding row zero
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.word_embeddings.weight[PAD] = 0.0

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        x = self.embedding_norm(x)
        for layer in self.encoder["layer"]:
            x = layer(x, attention_mask)
        pooled = torch.tanh(self.pooler(x[:, 0]))  # the [CLS] position
        logits = self.classifier(pooled)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def bert_style(
    vocab: int = 64,
    d_model: int = 32,
    n_layer: int = 4,
    n_head: int = 4,
    num_labels: int = 3,
    *,
    seed: int = 0,
) -> BertStyle:
    """A BERT-style sequence classifier (see BertStyle)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertStyle(vocab, d_model, n_layer, n_head, num_labels)


def marker_batch(
    step: int,
    *,
    vocab: int = 64,
    num_labels: int = 3,
    batch_size: int = 16,
    length: int = 16,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """{"input_ids", "attention_mask", "labels"}: [CLS], fillers with one class marker, padding.

    The label is which marker (token 2, 3 or 4) the sequence holds; lengths vary from 8 to
    `length`, the rest is PAD with attention_mask 0.
    """
    generator = torch.Generator().manual_seed(seed * 100_003 + step)
    first_filler = CLS + 1 + num_labels
    tokens = torch.randint(first_filler, vocab, (batch_size, length), generator=generator)
    tokens[:, 0] = CLS
    labels = torch.randint(0, num_labels, (batch_size,), generator=generator)
    lengths = torch.randint(8, length + 1, (batch_size,), generator=generator)
    where = 1 + (torch.rand(batch_size, generator=generator) * (lengths - 1)).long()
    tokens[torch.arange(batch_size), where] = CLS + 1 + labels
    mask = (torch.arange(length) < lengths[:, None]).long()
    tokens[mask == 0] = PAD
    return {"input_ids": tokens, "attention_mask": mask, "labels": labels}


# ----------------------------------------------------------------------------- LSTM
class LSTMLanguageModel(nn.Module):
    """Embedding, multi-layer nn.LSTM (batch_first), linear decoder; forward returns the logits."""

    def __init__(self, vocab: int, d: int, layers: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, d)
        self.lstm = nn.LSTM(d, d, num_layers=layers, batch_first=True)
        self.decoder = nn.Linear(d, vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(self.embedding(input_ids))
        return self.decoder(hidden)


def lstm_lm(vocab: int = 64, d: int = 32, layers: int = 2, *, seed: int = 0) -> LSTMLanguageModel:
    """A 2-layer LSTM language model with PyTorch's default init (see LSTMLanguageModel)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LSTMLanguageModel(vocab, d, layers)


def next_token_batch(step: int, *, batch_size: int = 16, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(input_ids, labels) for lstm_lm: labels[t] is the token after input_ids[t]."""
    tokens = progression_tokens(step, batch_size=batch_size, length=17, seed=seed)
    return tokens[:, :-1], tokens[:, 1:]


# ----------------------------------------------------------------------------- training
HEALTHY: dict[str, Callable[..., nn.Module]] = {
    "resnet18_style": resnet18_style,
    "gpt2_style": gpt2_style,
    "bert_style": bert_style,
    "lstm_lm": lstm_lm,
}
BATCHES: dict[str, Callable[..., Batch]] = {
    "resnet18_style": digit_batch,
    "gpt2_style": lm_batch,
    "bert_style": marker_batch,
    "lstm_lm": next_token_batch,
}


def compute_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The loss of one batch: output.loss for a dict batch (model(**batch)), else cross-entropy."""
    if isinstance(batch, dict):
        return model(**batch).loss
    x, y = batch
    logits = model(x)
    return token_cross_entropy(logits, y) if logits.dim() == 3 else F.cross_entropy(logits, y)


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    """The standard recipe: SGD (momentum 0.9, lr 0.05) for CNNs, AdamW for the rest.

    AdamW's lr is 1e-3 for transformers and 3e-3 for LSTMs (a common rate for small LSTM language
    models; at 1e-3 this one learns slowly: its loss falls by 5 % in 50 steps instead of 25 %).
    """
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    lstm = any(isinstance(m, nn.LSTM) for m in model.modules())
    return torch.optim.AdamW(model.parameters(), lr=3e-3 if lstm else 1e-3)


def train_healthy(
    model: nn.Module,
    batch_fn: Callable[[int], Batch],
    steps: int = 50,
    *,
    optimizer: torch.optim.Optimizer | None = None,
) -> np.ndarray:
    """Train with the standard recipe for `steps` steps on batch_fn(step); the losses, (steps,).

    Run it inside a GradientMonitor to record the steps.
    """
    optimizer = optimizer or make_optimizer(model)
    model.train()
    losses = []
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = compute_loss(model, batch_fn(step))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return np.asarray(losses)
