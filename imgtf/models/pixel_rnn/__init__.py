"""The PixelRNN paper's family (van den Oord et al., ICML 2016): PixelCNN, Row LSTM, Diagonal BiLSTM, Multi-Scale
PixelRNN, their shared masked-convolution base and their hparams sets."""
