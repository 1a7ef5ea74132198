//! Reciprocal rank fusion: combining ranked lists whose scores are not comparable.
//!
//! Each list contributes `1 / (k + rank)` (rank from 1) for every item it holds; items are ordered
//! by the sum. BM25 scores and cosine similarities live on different scales, and RRF needs only
//! their order, which is why it is the usual choice for hybrid retrieval.

use std::collections::HashMap;

/// The usual damping constant: keeps the top of one list from drowning everything else.
pub const RRF_K: f64 = 60.0;

/// One fused item: its key, fused score, and which lists (by index) held it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused<K> {
    pub key: K,
    pub score: f64,
    pub sources: Vec<usize>,
}

/// Fuses `lists` (each best first), weighting list `i` by `weights[i]`. Ties keep the order in
/// which items were first seen (earlier lists first), so the result is deterministic.
pub fn reciprocal_rank_fusion<K>(lists: &[Vec<K>], weights: &[f64]) -> Vec<Fused<K>>
where
    K: Clone + Eq + std::hash::Hash,
{
    let mut position: HashMap<K, usize> = HashMap::new();
    let mut fused: Vec<Fused<K>> = Vec::new();
    for (list_idx, list) in lists.iter().enumerate() {
        let weight = weights.get(list_idx).copied().unwrap_or(1.0);
        for (rank, key) in list.iter().enumerate() {
            let contribution = weight / (RRF_K + rank as f64 + 1.0);
            match position.get(key) {
                Some(&at) => {
                    fused[at].score += contribution;
                    if !fused[at].sources.contains(&list_idx) {
                        fused[at].sources.push(list_idx);
                    }
                }
                None => {
                    position.insert(key.clone(), fused.len());
                    fused.push(Fused { key: key.clone(), score: contribution, sources: vec![list_idx] });
                }
            }
        }
    }
    // A stable sort keeps first-seen order among equal scores.
    fused.sort_by(|a, b| b.score.total_cmp(&a.score));
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_in_both_lists_win() {
        let fused = reciprocal_rank_fusion(&[vec![1, 2, 3], vec![3, 4, 1]], &[1.0, 1.0]);
        let keys: Vec<_> = fused.iter().map(|item| item.key).collect();
        assert_eq!(keys, [1, 3, 2, 4]);
        assert_eq!(fused[0].sources, [0, 1]);
        assert_eq!(fused[2].sources, [0]);
    }

    #[test]
    fn scores_follow_the_formula() {
        let fused = reciprocal_rank_fusion(&[vec!["a"], vec!["a"]], &[1.0, 0.5]);
        let expected = 1.0 / 61.0 + 0.5 / 61.0;
        assert!((fused[0].score - expected).abs() < 1e-12);
    }

    #[test]
    fn empty_lists_fuse_to_nothing() {
        assert!(reciprocal_rank_fusion::<u64>(&[vec![], vec![]], &[1.0, 1.0]).is_empty());
    }

    #[test]
    fn ties_keep_first_seen_order() {
        let fused = reciprocal_rank_fusion(&[vec![7], vec![9]], &[1.0, 1.0]);
        assert_eq!(fused.iter().map(|item| item.key).collect::<Vec<_>>(), [7, 9]);
    }
}
