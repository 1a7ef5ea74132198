//! Merkle tree known-answer tests and proof properties.
//!
//! The leaves and expected hashes are the Certificate Transparency reference vectors for RFC 6962
//! (eight leaves: "", 00, 10, 2021, 3031, 40414243, 5051525354555657,
//! 606162636465666768696a6b6c6d6e6f), used as data.

use std::collections::HashMap;

use proptest::prelude::*;
use veritrail_core::chain::leaf_hash;
use veritrail_core::hash::Hash;
use veritrail_core::merkle::{
    Frontier, NodeId, consistency_ranges, empty_root, fold_subtrees, inclusion_ranges, perfect_subtrees, root_of,
    verify_consistency, verify_inclusion,
};

const LEAF_DATA: [&str; 8] =
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn hash(text: &str) -> Hash {
    Hash::from_hex(text).expect("hex")
}

fn reference_leaves() -> Vec<Hash> {
    LEAF_DATA.iter().map(|data| leaf_hash(&hex::decode(data).expect("hex"))).collect()
}

/// A tree the way storage holds it: every completed node, found by address.
struct StoredTree {
    nodes: HashMap<NodeId, Hash>,
}

impl StoredTree {
    fn of(leaves: &[Hash]) -> Self {
        let mut frontier = Frontier::default();
        let mut nodes: HashMap<NodeId, Hash> = HashMap::new();
        for leaf in leaves {
            nodes.extend(frontier.append(*leaf));
        }
        Self { nodes }
    }

    fn range_root(&self, (start, end): (u64, u64)) -> Hash {
        let roots: Vec<Hash> = perfect_subtrees(start, end).iter().map(|node| self.nodes[node]).collect();
        fold_subtrees(&roots).expect("non-empty range")
    }

    fn root(&self, size: u64) -> Hash {
        if size == 0 { empty_root() } else { self.range_root((0, size)) }
    }

    fn inclusion(&self, index: u64, size: u64) -> Vec<Hash> {
        inclusion_ranges(index, size).into_iter().map(|range| self.range_root(range)).collect()
    }

    fn consistency(&self, first: u64, second: u64) -> Vec<Hash> {
        consistency_ranges(first, second).into_iter().map(|range| self.range_root(range)).collect()
    }
}

#[test]
fn roots_match_rfc6962_reference() {
    assert_eq!(empty_root().to_hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    let leaves = reference_leaves();
    let tree = StoredTree::of(&leaves);
    for size in 1..=8 {
        assert_eq!(root_of(&leaves[..size]).to_hex(), ROOTS[size - 1], "direct root of size {size}");
        assert_eq!(tree.root(size as u64).to_hex(), ROOTS[size - 1], "stored root of size {size}");
    }
}

#[test]
fn inclusion_proofs_match_rfc6962_reference() {
    let tree = StoredTree::of(&reference_leaves());
    let cases: [(u64, u64, &[&str]); 4] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    ];
    let leaves = reference_leaves();
    for (index, size, expected) in cases {
        let proof = tree.inclusion(index, size);
        let expected: Vec<Hash> = expected.iter().map(|text| hash(text)).collect();
        assert_eq!(proof, expected, "inclusion of {index} in {size}");
        assert!(verify_inclusion(index, size, &leaves[index as usize], &proof, &hash(ROOTS[size as usize - 1])));
    }
}

#[test]
fn consistency_proofs_match_rfc6962_reference() {
    let tree = StoredTree::of(&reference_leaves());
    let cases: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (first, second, expected) in cases {
        let proof = tree.consistency(first, second);
        let expected: Vec<Hash> = expected.iter().map(|text| hash(text)).collect();
        assert_eq!(proof, expected, "consistency {first} -> {second}");
        assert!(verify_consistency(
            first,
            second,
            &hash(ROOTS[first as usize - 1]),
            &hash(ROOTS[second as usize - 1]),
            &proof
        ));
    }
}

fn tree_strategy() -> impl Strategy<Value = (Vec<Hash>, u64, u64)> {
    (1u64..300).prop_flat_map(|size| {
        let leaves: Vec<Hash> = (0..size).map(|idx| leaf_hash(format!("event {idx}").as_bytes())).collect();
        (Just(leaves), 0..size, 1..=size)
    })
}

fn flip(hash: &mut Hash, bit: usize) {
    hash.0[(bit / 8) % 32] ^= 1 << (bit % 8);
}

proptest! {
    #[test]
    fn inclusion_proofs_verify_and_any_mutation_fails((leaves, index, _) in tree_strategy(), bit in 0usize..256, pick in any::<prop::sample::Index>()) {
        let size = leaves.len() as u64;
        let tree = StoredTree::of(&leaves);
        let root = tree.root(size);
        let leaf = leaves[index as usize];
        let proof = tree.inclusion(index, size);
        prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root));

        let mut bad_leaf = leaf;
        flip(&mut bad_leaf, bit);
        prop_assert!(!verify_inclusion(index, size, &bad_leaf, &proof, &root));
        let mut bad_root = root;
        flip(&mut bad_root, bit);
        prop_assert!(!verify_inclusion(index, size, &leaf, &proof, &bad_root));
        if !proof.is_empty() {
            let mut bad_proof = proof.clone();
            flip(&mut bad_proof[pick.index(proof.len())], bit);
            prop_assert!(!verify_inclusion(index, size, &leaf, &bad_proof, &root));
            let mut short = proof.clone();
            short.pop();
            prop_assert!(!verify_inclusion(index, size, &leaf, &short, &root));
        }
        let mut long = proof.clone();
        long.push(root);
        prop_assert!(!verify_inclusion(index, size, &leaf, &long, &root));
        // A size is bound to its root (a checkpoint signs both), so a proof presented under another
        // size must fail against that size's real root.
        let bigger = StoredTree::of(&[leaves.clone(), vec![leaf_hash(b"one more")]].concat());
        prop_assert!(!verify_inclusion(index, size + 1, &leaf, &proof, &bigger.root(size + 1)));
        if index + 1 < size {
            prop_assert!(!verify_inclusion(index, size - 1, &leaf, &proof, &tree.root(size - 1)));
        }
        prop_assert!(!verify_inclusion(size, size, &leaf, &proof, &root));
        if index + 1 < size {
            prop_assert!(!verify_inclusion(index + 1, size, &leaf, &proof, &root));
        }
    }

    #[test]
    fn consistency_proofs_verify_and_any_mutation_fails((leaves, _, first) in tree_strategy(), bit in 0usize..256, pick in any::<prop::sample::Index>()) {
        let second = leaves.len() as u64;
        let tree = StoredTree::of(&leaves);
        let (first_root, second_root) = (tree.root(first), tree.root(second));
        let proof = tree.consistency(first, second);
        prop_assert!(verify_consistency(first, second, &first_root, &second_root, &proof));

        let mut bad_first = first_root;
        flip(&mut bad_first, bit);
        prop_assert!(!verify_consistency(first, second, &bad_first, &second_root, &proof));
        let mut bad_second = second_root;
        flip(&mut bad_second, bit);
        prop_assert!(!verify_consistency(first, second, &first_root, &bad_second, &proof));
        if !proof.is_empty() {
            let mut bad_proof = proof.clone();
            flip(&mut bad_proof[pick.index(proof.len())], bit);
            prop_assert!(!verify_consistency(first, second, &first_root, &second_root, &bad_proof));
        }
        let bigger = StoredTree::of(&[leaves.clone(), vec![leaf_hash(b"one more")]].concat());
        prop_assert!(!verify_consistency(first, second + 1, &first_root, &bigger.root(second + 1), &proof));
        if first < second {
            prop_assert!(!verify_consistency(first + 1, second, &tree.root(first + 1), &second_root, &proof));
        }
        if first > 1 {
            prop_assert!(!verify_consistency(first - 1, second, &tree.root(first - 1), &second_root, &proof));
        }
    }
}
