"""Data: dataset layout and splits, audio decoding, augmentation, the tf.data pipeline."""
