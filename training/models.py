"""LSTM language models: embedding -> nn.LSTM -> linear, plus the ONNX step wrapper."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

State = tuple[torch.Tensor, torch.Tensor]


class LSTMLanguageModel(nn.Module):
    """Predicts the next token at every position; carries (h, c) between calls."""

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        layers: int,
        dropout: float,
        io_dropout: float = 0.0,
        weight_drop: float = 0.0,
    ) -> None:
        """``dropout`` acts between the LSTM layers, ``io_dropout`` on its input and output.

        ``weight_drop`` is DropConnect on the hidden-to-hidden weights (AWD-LSTM, Merity et al.
        2017): while training, each step drops a fresh mask of recurrent weights, the same mask
        at every time step. Evaluation and export use the plain weights.
        """
        super().__init__()
        self.weight_drop = weight_drop
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.layers = layers
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.dropout = nn.Dropout(io_dropout)
        self.lstm = nn.LSTM(
            embedding_size,
            hidden_size,
            num_layers=layers,
            dropout=dropout if layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Linear(hidden_size, vocab_size)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        shape = (self.layers, batch_size, self.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def forward(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        if state is None:
            state = self.initial_state(tokens.shape[0], tokens.device)
        x = self.dropout(self.embedding(tokens))
        out, (h, c) = self._recurrent(x, state)
        return self.head(self.dropout(out)), (h, c)

    def _recurrent(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        if not (self.training and self.weight_drop > 0):
            return self.lstm(x, state)
        dropped = {
            name: F.dropout(weight, self.weight_drop, training=True)
            for name, weight in self.lstm.named_parameters()
            if name.startswith("weight_hh")
        }
        return functional_call(self.lstm, dropped, (x, state))

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


class CharLSTM(LSTMLanguageModel):
    """Character-level model (prose, poems, names)."""


class WordLSTM(LSTMLanguageModel):
    """Word-level model (fables); larger embeddings, same recurrent core."""


def build_model(level: str, **sizes: int | float) -> LSTMLanguageModel:
    cls = WordLSTM if level == "word" else CharLSTM
    return cls(**sizes)  # type: ignore[arg-type]  # sizes: the keyword arguments of both


class StepModel(nn.Module):
    """The exported contract: (tokens, h, c) -> (logits of the last step, h_out, c_out)."""

    def __init__(self, model: LSTMLanguageModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, (h_out, c_out) = self.model(tokens, (h, c))
        return logits[:, -1, :], h_out, c_out
