"""bc_resnet: broadcasted residual learning (Kim et al., Interspeech 2021), widths 1-8.

Layout [batch, time, freq, channels]. Each block runs a frequency-wise depthwise conv with
SubSpectralNorm (2-D features), averages over frequency, runs a dilated temporal depthwise conv on the
1-D result and broadcasts it back over frequency. Stage settings follow the authors' code:
n = [2, 2, 4, 4] blocks, channels [16, 8, 12, 16, 20, 32] x width, frequency stride in stages 2 and 3,
temporal dilation 2^stage (1 when streamable). Input: 40 log-mel bins (any multiple of 40 / 8 works).
"""

from __future__ import annotations

import keras
from keras import layers

from kws.models import layers as kl
from kws.models.config import ModelConfig
from kws.models.streaming import TimeAxis

BLOCKS_PER_STAGE = (2, 2, 4, 4)
STRIDED_STAGES = (1, 2)
SUB_BANDS = 5


def _block(x, channels, dilation, freq_stride, transition, name, time: TimeAxis):
    identity = x
    if transition:
        x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_expand")(x)
        x = kl.batch_norm(f"{name}_expand_bn")(x)
        x = layers.ReLU(name=f"{name}_expand_relu")(x)
    x = time.conv(x, lambda padding: layers.DepthwiseConv2D((1, 3), padding=padding,
                                                            use_bias=False, name=f"{name}_freq_dw"),
                  (1, 3), name=f"{name}_freq_dw")
    if freq_stride > 1:
        # TF's depthwise conv takes only equal strides: subsample frequency after the conv instead.
        x = layers.MaxPooling2D((1, 1), strides=(1, freq_stride), name=f"{name}_freq_stride")(x)
    bands = SUB_BANDS if x.shape[2] % SUB_BANDS == 0 else 1
    two_d = kl.SubSpectralNorm(bands, name=f"{name}_ssn")(x)
    y = layers.AveragePooling2D((1, two_d.shape[2]), name=f"{name}_freq_avg")(two_d)
    y = time.conv(y, lambda padding: layers.DepthwiseConv2D(
        (3, 1), dilation_rate=(dilation, 1), padding=padding, use_bias=False,
        name=f"{name}_time_dw"), (3, 1), dilation=dilation, name=f"{name}_time_dw")
    y = kl.batch_norm(f"{name}_time_bn")(y)
    y = layers.Activation("swish", name=f"{name}_swish")(y)
    y = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_pw")(y)
    y = layers.SpatialDropout2D(0.1, name=f"{name}_drop")(y)
    # y broadcasts over frequency
    out = layers.Add(name=f"{name}_broadcast_add")([time.align(two_d, y), y])
    if not transition:
        out = layers.Add(name=f"{name}_residual")([out, time.align(identity, out)])
    return layers.ReLU(name=f"{name}_relu")(out)


def frames_per_call(config: ModelConfig) -> int:
    """Feature frames per call of the streaming form (no time strides: one)."""
    del config
    return 1


def build(config: ModelConfig, input_shape: tuple[int, int],
          time: TimeAxis | None = None) -> keras.Model:
    time = time or TimeAxis("window" if config.streamable else "same")
    w = config.width
    channels = [16 * w, 8 * w, 12 * w, 16 * w, 20 * w, 32 * w]
    inputs, x = kl.feature_input(input_shape, time)
    x = time.conv(x, lambda padding: layers.Conv2D(channels[0], 5, strides=(1, 2), padding=padding,
                                                   use_bias=False, name="conv1"),
                  (5, 5), (1, 2), name="conv1")
    for stage, n_blocks in enumerate(BLOCKS_PER_STAGE):
        for b in range(n_blocks):
            first = b == 0
            x = _block(x, channels[stage + 1],
                       dilation=1 if config.streamable else 2 ** (stage + 1),
                       freq_stride=2 if first and stage in STRIDED_STAGES else 1,
                       transition=first and channels[stage] != channels[stage + 1],
                       name=f"stage{stage + 1}_block{b + 1}", time=time)
    freq = x.shape[2]

    def head(padding):  # valid in frequency (the kernel covers it); time as the mode says
        del padding
        return layers.DepthwiseConv2D((5, freq), padding="valid", use_bias=False, name="head_dw")

    if time.mode == "same":
        x = head("valid")(layers.ZeroPadding2D(((2, 2), (0, 0)), name="head_pad")(x))
    else:
        x = time.conv(x, head, (5, freq), name="head_dw", freq_padding="valid")
    x = layers.Conv2D(channels[-1], 1, use_bias=False, name="head_pw")(x)
    x = kl.batch_norm("head_bn")(x)
    x = layers.ReLU(name="head_relu")(x)
    x = time.average(x, "time_avg")
    return time.model(inputs, kl.classifier(x, config.num_classes, config.dropout),
                      name=f"bc_resnet_{w}")
