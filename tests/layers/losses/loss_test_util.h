// The float64 gradient check every attention loss gets through a whole attention layer: the
// layer's trainable parameters and its input x against output_weight * sum(y) + the loss term,
// on the two-document batch of variant_test_util.h.
#pragma once

#include <functional>
#include <memory>

#include <gtest/gtest.h>

#include "layers/attention/attention_layer.h"
#include "layers/losses/attention_loss.h"

namespace attn::test {

struct LossLayerCheck {
  double output_weight = 0.1;
  double input_scale = 1.0;  // x ~ N(0, input_scale^2)
};

::testing::AssertionResult gradcheck_loss_through_layer(
    const attnlab::config::Attention& attention,
    const std::function<std::unique_ptr<AttentionLoss>(const AttentionSpec&)>& make_loss,
    const LossLayerCheck& check = {});

}  // namespace attn::test
