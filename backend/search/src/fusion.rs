//! Reciprocal rank fusion: combining ranked lists whose scores are not comparable.
//!
//! Each list contributes `1 / (k + rank)` (rank from 1) for every item it holds; items are ordered
//! by the sum. BM25 scores and cosine similarities live on different scales, and RRF needs only
//! their order, which is why it is the usual choice for hybrid retrieval.

use std::collections::HashMap;

use serde::Serialize;
use veritrail_core::search::SearchHit;

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

/// How the full-text and vector lists of a hybrid search are combined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fusion {
    /// Reciprocal rank fusion over document ranks.
    DocumentRank,
    /// Reciprocal rank fusion over text ranks: the documents of one text (equal scores in a
    /// list) share a rank, so a text repeated fifty times counts as one candidate, not fifty.
    TextRank,
    /// `fulltext_weight` x full-text score / the list's best + (1 - `fulltext_weight`) x cosine
    /// similarity (0 when absent from a list). Unlike ranks, keeps how strong each match is: a
    /// weak best vector match does not count as much as a strong best word match.
    Convex { fulltext_weight: f64 },
}

/// Fuses a full-text list and a vector list of hits (each best first) into seqs, best first;
/// `sources` holds 0 for full text and 1 for vector.
pub fn fuse(fulltext: &[SearchHit], vector: &[SearchHit], fusion: Fusion) -> Vec<Fused<u64>> {
    fuse_completed(fulltext, vector, &Completions::default(), fusion)
}

/// The other retriever's scores of candidates only one list held, looked up after retrieval.
#[derive(Debug, Clone, Default)]
pub struct Completions {
    /// Full-text scores of documents only the vector list held.
    pub fulltext: Vec<SearchHit>,
    /// Cosine similarities of documents only the full-text list held.
    pub vector: Vec<SearchHit>,
}

/// [`fuse`], with the scores in `completions` added to convex fusion: a document the vector list
/// missed because fifty copies of another text filled it still has its similarity counted, not
/// 0. Completed scores do not make a list a source of the document, and rank fusions, which
/// only know positions in the lists, ignore them.
pub fn fuse_completed(
    fulltext: &[SearchHit],
    vector: &[SearchHit],
    completions: &Completions,
    fusion: Fusion,
) -> Vec<Fused<u64>> {
    match fusion {
        Fusion::DocumentRank => {
            let keys = [seqs(fulltext), seqs(vector)];
            reciprocal_rank_fusion(&keys, &[1.0, 1.0])
        }
        Fusion::TextRank => rank_sum(&[text_ranks(fulltext), text_ranks(vector)]),
        Fusion::Convex { fulltext_weight } => {
            // Full-text scores are only comparable within the query, so they are taken relative to
            // the list's best; a completed score cannot beat it (it was below the list's last).
            let best = fulltext.iter().map(|hit| hit.score).fold(f64::NEG_INFINITY, f64::max);
            let fulltext_part = |hits: &[SearchHit]| -> Vec<(u64, f64)> {
                hits.iter()
                    .map(|hit| {
                        let normalised = if best > 0.0 { (hit.score / best).min(1.0) } else { 0.0 };
                        (hit.seq, fulltext_weight * normalised)
                    })
                    .collect()
            };
            let vector_part = |hits: &[SearchHit]| -> Vec<(u64, f64)> {
                hits.iter().map(|hit| (hit.seq, (1.0 - fulltext_weight) * hit.score.clamp(0.0, 1.0))).collect()
            };
            let mut fused = sum(&[fulltext_part(fulltext), vector_part(vector)]);
            add_completions(&mut fused, &[fulltext_part(&completions.fulltext), vector_part(&completions.vector)]);
            fused
        }
    }
}

/// Adds completed scores to documents already fused (others are ignored: a completion only
/// ever scores a candidate) and sorts again.
fn add_completions(fused: &mut [Fused<u64>], completions: &[Vec<(u64, f64)>]) {
    let position: HashMap<u64, usize> = fused.iter().enumerate().map(|(at, item)| (item.key, at)).collect();
    for (list_idx, list) in completions.iter().enumerate() {
        for (seq, score) in list {
            if let Some(&at) = position.get(seq).filter(|&&at| !fused[at].sources.contains(&list_idx)) {
                fused[at].score += score;
            }
        }
    }
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| b.key.cmp(&a.key)));
}

fn seqs(hits: &[SearchHit]) -> Vec<u64> {
    hits.iter().map(|hit| hit.seq).collect()
}

/// Each hit with its dense rank (from 1) by score: equal scores, equal rank.
fn text_ranks(hits: &[SearchHit]) -> Vec<(u64, usize)> {
    let mut rank = 0;
    let mut previous: Option<f64> = None;
    hits.iter()
        .map(|hit| {
            if previous != Some(hit.score) {
                rank += 1;
                previous = Some(hit.score);
            }
            (hit.seq, rank)
        })
        .collect()
}

fn rank_sum(lists: &[Vec<(u64, usize)>]) -> Vec<Fused<u64>> {
    let scored: Vec<Vec<(u64, f64)>> = lists
        .iter()
        .map(|list| list.iter().map(|(seq, rank)| (*seq, 1.0 / (RRF_K + *rank as f64))).collect())
        .collect();
    sum(&scored)
}

/// Adds each seq's scores over `lists`; ties go to the newer event (the higher seq).
fn sum(lists: &[Vec<(u64, f64)>]) -> Vec<Fused<u64>> {
    let mut position: HashMap<u64, usize> = HashMap::new();
    let mut fused: Vec<Fused<u64>> = Vec::new();
    for (list_idx, list) in lists.iter().enumerate() {
        for (seq, score) in list {
            match position.get(seq) {
                Some(&at) => {
                    fused[at].score += score;
                    if !fused[at].sources.contains(&list_idx) {
                        fused[at].sources.push(list_idx);
                    }
                }
                None => {
                    position.insert(*seq, fused.len());
                    fused.push(Fused { key: *seq, score: *score, sources: vec![list_idx] });
                }
            }
        }
    }
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| b.key.cmp(&a.key)));
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

    fn hits(pairs: &[(u64, f64)]) -> Vec<SearchHit> {
        pairs.iter().map(|&(seq, score)| SearchHit { seq, score }).collect()
    }

    #[test]
    fn documents_of_one_text_share_a_rank() {
        // Full text: text A (seqs 9, 8, 7), then text B (seq 5). Vector: B first, then C (seq 1).
        let fulltext = hits(&[(9, 3.0), (8, 3.0), (7, 3.0), (5, 1.0)]);
        let vector = hits(&[(5, 0.9), (1, 0.8)]);
        let by_text: Vec<u64> = fuse(&fulltext, &vector, Fusion::TextRank).iter().map(|item| item.key).collect();
        assert_eq!(by_text, [5, 9, 8, 7, 1], "B is second and first: it wins; A's copies tie, newest first");
        let by_document: Vec<u64> =
            fuse(&fulltext, &vector, Fusion::DocumentRank).iter().map(|item| item.key).collect();
        assert_eq!(by_document[0], 5);
        assert_eq!(by_document[1..], [9, 8, 1, 7], "by document ranks C ties with A's second copy, beats its third");
    }

    #[test]
    fn convex_fusion_keeps_how_strong_each_match_is() {
        let fulltext = hits(&[(1, 10.0), (2, 5.0)]);
        let strong_vector = hits(&[(3, 0.9)]);
        let weak_vector = hits(&[(3, 0.2)]);
        let order = |vector: &[SearchHit]| -> Vec<u64> {
            fuse(&fulltext, vector, Fusion::Convex { fulltext_weight: 0.5 }).iter().map(|item| item.key).collect()
        };
        // Full text gives 1 -> 0.5, 2 -> 0.25; the vector list gives 3 -> 0.45 or 0.1.
        assert_eq!(order(&strong_vector), [1, 3, 2], "a strong vector match outranks a weak word match");
        assert_eq!(order(&weak_vector), [1, 2, 3], "a weak vector match does not");
        assert_eq!(order(&hits(&[(2, 0.9)])), [2, 1], "found by both: 0.25 + 0.45");
    }

    #[test]
    fn completed_scores_count_but_are_not_sources() {
        // Seq 1 is the best word match but the vector list missed it; its similarity is 0.8.
        let fulltext = hits(&[(1, 10.0), (2, 9.0)]);
        let vector = hits(&[(2, 0.7), (3, 0.9)]);
        let convex = Fusion::Convex { fulltext_weight: 0.5 };
        let plain: Vec<u64> = fuse(&fulltext, &vector, convex).iter().map(|item| item.key).collect();
        assert_eq!(plain, [2, 1, 3], "2: 0.45 + 0.35; 1: 0.5; 3: 0.45");
        let completions = Completions { fulltext: hits(&[(3, 1.0)]), vector: hits(&[(1, 0.8)]) };
        let fused = fuse_completed(&fulltext, &vector, &completions, convex);
        assert_eq!(fused.iter().map(|item| item.key).collect::<Vec<_>>(), [1, 2, 3], "1: 0.5 + 0.4; 3: 0.05 + 0.45");
        assert_eq!(fused[0].sources, [0], "found by full text only");
        assert!((fused[2].score - 0.5).abs() < 1e-12);
        let unknown = Completions { fulltext: Vec::new(), vector: hits(&[(9, 1.0), (2, 1.0)]) };
        let ignored = fuse_completed(&fulltext, &vector, &unknown, convex);
        assert_eq!(ignored.len(), 3, "a completion never adds a candidate");
        assert!((ignored[0].score - 0.8).abs() < 1e-12, "nor adds to a list's own score");
        let ranks = fuse_completed(&fulltext, &vector, &completions, Fusion::DocumentRank);
        assert_eq!(ranks, fuse(&fulltext, &vector, Fusion::DocumentRank), "rank fusions ignore completions");
    }
}
