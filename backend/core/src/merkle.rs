//! RFC 6962 / RFC 9162 Merkle trees over a tenant's events: tree heads, inclusion and consistency
//! proofs, and their verification.
//!
//! Leaves are the events' leaf hashes (`SHA-256(0x00 || canonical event)`, see [`crate::chain`]);
//! an interior node is `SHA-256(0x01 || left || right)`; the tree of `n` leaves splits at the
//! largest power of two below `n`.
//!
//! Storage keeps the root of every *complete, aligned* subtree — node `(level, index)` covers
//! leaves `index * 2^level .. (index + 1) * 2^level` — as transparency logs keep tiles. Every hash
//! a proof needs is the root of a range `[start, end)` that is either such a subtree or the right
//! edge of a tree, and a right edge splits into at most `log2(n)` complete subtrees
//! ([`perfect_subtrees`]). So a proof reads `O(log² n)` stored nodes at most, never the leaves.

use sha2::{Digest, Sha256};

use crate::hash::{Hash, sha256};

/// Address of a stored node: the root of leaves `index * 2^level .. (index + 1) * 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u32,
    pub index: u64,
}

/// Returns the interior node hash `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

/// Returns the root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    sha256(b"")
}

/// Returns the largest power of two strictly below `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Returns the root of `leaves` computed directly (for small trees and for checking).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// Splits `[start, end)` into the complete aligned subtrees whose roots, folded from the right,
/// give the range's root. `start` must be a multiple of the range's left subtree size, which holds
/// for every range a proof asks for.
pub fn perfect_subtrees(start: u64, end: u64) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    let mut position = start;
    while position < end {
        // The biggest aligned block starting at `position` that still fits before `end`.
        let align = if position == 0 { 63 } else { position.trailing_zeros() };
        let fit = 63 - (end - position).leading_zeros();
        let level = align.min(fit);
        nodes.push(NodeId { level, index: position >> level });
        position += 1 << level;
    }
    nodes
}

/// Folds the roots of [`perfect_subtrees`] (left to right) into the range root, as RFC 6962
/// splits: the rightmost subtrees combine first.
pub fn fold_subtrees(roots: &[Hash]) -> Option<Hash> {
    let (last, rest) = roots.split_last()?;
    Some(rest.iter().rev().fold(*last, |right, left| node_hash(left, &right)))
}

/// Returns the ranges `[start, end)` whose roots form the inclusion proof of `leaf_index` in a tree
/// of `tree_size` leaves, in proof order (nearest the leaf first).
pub fn inclusion_ranges(leaf_index: u64, tree_size: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let (mut start, mut end) = (0, tree_size);
    while end - start > 1 {
        let k = split_point(end - start);
        if leaf_index - start < k {
            ranges.push((start + k, end));
            end = start + k;
        } else {
            ranges.push((start, start + k));
            start += k;
        }
    }
    ranges.reverse();
    ranges
}

/// Returns the ranges whose roots form the consistency proof between tree sizes `first` and
/// `second` (`0 < first <= second`), in proof order.
pub fn consistency_ranges(first: u64, second: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    if first == 0 || first >= second {
        return ranges;
    }
    let (mut start, mut end, mut m) = (0, second, first);
    let mut whole_old_tree = true;
    loop {
        let n = end - start;
        if m == n {
            if !whole_old_tree {
                ranges.push((start, end));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            ranges.push((start + k, end));
            end = start + k;
        } else {
            ranges.push((start, start + k));
            start += k;
            m -= k;
            whole_old_tree = false;
        }
    }
    ranges.reverse();
    ranges
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf_index: u64, tree_size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if leaf_index >= tree_size {
        return false;
    }
    let (mut fn_, mut sn) = (leaf_index, tree_size - 1);
    let mut running = *leaf;
    for sibling in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            running = node_hash(sibling, &running);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            running = node_hash(&running, sibling);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && running == *root
}

/// Checks a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(first: u64, second: u64, first_root: &Hash, second_root: &Hash, proof: &[Hash]) -> bool {
    if first > second || first == 0 {
        // Every tree extends the empty one, and a proof between them is empty.
        return first == 0 && proof.is_empty();
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    let mut nodes: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        nodes.push(*first_root);
    }
    nodes.extend_from_slice(proof);
    let Some((seed, rest)) = nodes.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut first_running, mut second_running) = (*seed, *seed);
    for node in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            first_running = node_hash(node, &first_running);
            second_running = node_hash(node, &second_running);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            second_running = node_hash(&second_running, node);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && first_running == *first_root && second_running == *second_root
}

/// The right edge of a growing tree: the roots of its complete subtrees, largest first. Appending a
/// leaf needs only this (at most 64 hashes), never the leaves before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One root per set bit of `size`, from the most significant bit down.
    roots: Vec<Hash>,
}

impl Frontier {
    /// Rebuilds a frontier from stored roots (as returned by [`Frontier::roots`]).
    pub fn from_parts(size: u64, roots: Vec<Hash>) -> Option<Self> {
        (roots.len() == size.count_ones() as usize).then_some(Self { size, roots })
    }

    /// Decodes the stored form: the roots concatenated, 32 bytes each.
    pub fn from_bytes(size: u64, bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(32) {
            return None;
        }
        let roots = bytes.chunks_exact(32).filter_map(Hash::from_slice).collect();
        Self::from_parts(size, roots)
    }

    /// Returns the stored form: the roots concatenated, largest first.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.roots.iter().flat_map(|root| root.0).collect()
    }

    /// Returns the number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Returns the roots of the complete subtrees, largest first.
    pub fn roots(&self) -> &[Hash] {
        &self.roots
    }

    /// Appends a leaf; returns every node that became complete, the leaf itself first.
    pub fn append(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let mut completed = Vec::with_capacity(2);
        self.append_with(leaf, |node, hash| completed.push((node, hash)));
        completed
    }

    /// Appends a leaf, handing each node that became complete (the leaf first) to `on_node`.
    pub fn append_with(&mut self, leaf: Hash, mut on_node: impl FnMut(NodeId, Hash)) {
        on_node(NodeId { level: 0, index: self.size }, leaf);
        let mut carry = leaf;
        let mut level = 0;
        let mut index = self.size;
        while index & 1 == 1 {
            let left = self.roots.pop().unwrap_or_default();
            carry = node_hash(&left, &carry);
            level += 1;
            index >>= 1;
            on_node(NodeId { level, index }, carry);
        }
        self.roots.push(carry);
        self.size += 1;
    }

    /// Returns the tree head.
    pub fn root(&self) -> Hash {
        fold_subtrees(&self.roots).unwrap_or_else(empty_root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::leaf_hash;

    fn leaves(count: u64) -> Vec<Hash> {
        (0..count).map(|idx| leaf_hash(&idx.to_be_bytes())).collect()
    }

    fn range_root(all: &[Hash], range: (u64, u64)) -> Hash {
        root_of(&all[range.0 as usize..range.1 as usize])
    }

    #[test]
    fn perfect_subtrees_cover_ranges_and_fold_to_their_root() {
        let all = leaves(70);
        for end in 1..=70u64 {
            let nodes = perfect_subtrees(0, end);
            assert_eq!(nodes.len(), end.count_ones() as usize);
            let roots: Vec<Hash> = nodes
                .iter()
                .map(|node| range_root(&all, (node.index << node.level, (node.index + 1) << node.level)))
                .collect();
            assert_eq!(fold_subtrees(&roots), Some(root_of(&all[..end as usize])), "size {end}");
        }
    }

    #[test]
    fn frontier_matches_direct_roots_and_reports_complete_nodes() {
        let all = leaves(40);
        let mut frontier = Frontier::default();
        for (idx, leaf) in all.iter().enumerate() {
            for (node, hash) in frontier.append(*leaf) {
                let start = node.index << node.level;
                assert_eq!(hash, range_root(&all, (start, start + (1 << node.level))));
            }
            assert_eq!(frontier.root(), root_of(&all[..=idx]));
        }
    }

    #[test]
    fn every_proof_of_small_trees_verifies() {
        let all = leaves(33);
        for size in 1..=33u64 {
            let root = root_of(&all[..size as usize]);
            for index in 0..size {
                let proof: Vec<Hash> = inclusion_ranges(index, size).iter().map(|r| range_root(&all, *r)).collect();
                assert!(verify_inclusion(index, size, &all[index as usize], &proof, &root), "{index}/{size}");
            }
            for first in 1..=size {
                let first_root = root_of(&all[..first as usize]);
                let proof: Vec<Hash> = consistency_ranges(first, size).iter().map(|r| range_root(&all, *r)).collect();
                assert!(verify_consistency(first, size, &first_root, &root, &proof), "{first}->{size}");
            }
        }
    }
}
