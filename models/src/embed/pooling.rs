//! Sentence vectors from token vectors: attention-mask mean pooling, then L2 normalisation.
//!
//! This is what sentence-transformers does for all-MiniLM-L6-v2 (`1_Pooling/config.json` selects
//! mean pooling; the model card normalises). Padding positions carry a zero mask, so a sentence
//! gets the same vector whatever the length of its batch neighbours.

use candle_core::{DType, Tensor};

/// Smallest token count divided by; only matters for an all-padding row, which cannot occur
/// because the tokenizer always adds `[CLS]` and `[SEP]`.
const MIN_TOKENS: f64 = 1e-9;

/// Smallest norm divided by, as in `torch.nn.functional.normalize`.
const MIN_NORM: f64 = 1e-12;

/// Mean of `hidden` (`[batch, tokens, width]`) over the positions where `mask` (`[batch, tokens]`)
/// is 1, giving `[batch, width]`.
pub(crate) fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.maximum(MIN_TOKENS)?;
    summed.broadcast_div(&counts)
}

/// Scales every row of `[batch, width]` to unit Euclidean length.
pub(crate) fn l2_normalise(rows: &Tensor) -> candle_core::Result<Tensor> {
    let norms = rows.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(MIN_NORM)?;
    rows.broadcast_div(&norms)
}

/// Mean pooling followed by normalisation, returned as plain vectors.
pub(crate) fn sentence_vectors(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    l2_normalise(&mean_pool(hidden, mask)?)?.to_dtype(DType::F32)?.to_vec2::<f32>()
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    #[test]
    fn padding_positions_do_not_move_the_mean() -> candle_core::Result<()> {
        let device = Device::Cpu;
        // One sentence of two tokens, padded to four with large junk values.
        let hidden = Tensor::new(&[[[1f32, 2.], [3., 4.], [100., -100.], [50., 50.]]], &device)?;
        let mask = Tensor::new(&[[1u32, 1, 0, 0]], &device)?;
        let pooled = mean_pool(&hidden, &mask)?.to_vec2::<f32>()?;
        assert_eq!(pooled, vec![vec![2., 3.]]);
        Ok(())
    }

    #[test]
    fn vectors_come_out_unit_length() -> candle_core::Result<()> {
        let device = Device::Cpu;
        let hidden = Tensor::new(&[[[3f32, 4.]], [[0.5, 0.]]], &device)?;
        let mask = Tensor::new(&[[1u32], [1]], &device)?;
        let vectors = sentence_vectors(&hidden, &mask)?;
        assert_eq!(vectors[0], vec![0.6, 0.8]);
        assert_eq!(vectors[1], vec![1.0, 0.0]);
        Ok(())
    }
}
