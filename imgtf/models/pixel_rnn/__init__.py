"""The PixelRNN paper's family (van den Oord et al., ICML 2016): PixelCNN, Row LSTM, Diagonal BiLSTM, Multi-Scale
PixelRNN, their shared masked-convolution base and their hparams sets."""
from imgtf.models.pixel_rnn.diagonal_bilstm import DiagonalBiLSTM  # noqa: F401
from imgtf.models.pixel_rnn.multiscale_pixelrnn import MultiScalePixelRNN  # noqa: F401
from imgtf.models.pixel_rnn.pixel_cnn import PixelCNN  # noqa: F401
from imgtf.models.pixel_rnn.row_lstm import RowLSTM  # noqa: F401
