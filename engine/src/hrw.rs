//! Highest-random-weight placement exactly as AIStore computes it (spec §4):
//! `XXH64(bytes, seed = MLCG32)` digests, mixed with the xoshiro256** seeding function.

use xxhash_rust::xxh64::xxh64;

/// `cos.MLCG32`, the seed AIS uses for every HRW digest.
pub const MLCG32: u64 = 1103515245;

/// XXH64 with the HRW seed.
pub fn digest(bytes: &[u8]) -> u64 {
    xxh64(bytes, MLCG32)
}

/// The xoshiro256** seeding mixer: SplitMix64 twice, then the starstar scrambler.
pub fn mix(s: u64) -> u64 {
    let mut z = s.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z = (z ^ (z >> 31)).wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z = (z ^ (z >> 31)).wrapping_mul(5);
    z.rotate_left(7).wrapping_mul(9)
}

/// Object "uname": `provider/nsUname/bucket/objname`; `ns` is "" for the global namespace.
pub fn uname(provider: &str, ns: &str, bucket: &str, object: &str) -> String {
    let ns = if ns.is_empty() { "@#" } else { ns };
    let mut s = String::with_capacity(provider.len() + ns.len() + bucket.len() + object.len() + 3);
    s.push_str(provider);
    s.push('/');
    s.push_str(ns);
    s.push('/');
    s.push_str(bucket);
    s.push('/');
    s.push_str(object);
    s
}

/// Index of the candidate with the highest weight `mix(digest ^ d)`; ties go to the first.
/// `None` when there are no candidates.
pub fn choose<I: IntoIterator<Item = u64>>(d: u64, digests: I) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for (i, node) in digests.into_iter().enumerate() {
        let w = mix(node ^ d);
        if best.is_none_or(|(_, bw)| w > bw) {
            best = Some((i, w));
        }
    }
    best.map(|(i, _)| i)
}

/// Indices of all candidates from the highest weight to the lowest (ties: the earlier one
/// first); element 0 is [`choose`]'s pick. N-way mirror copies go to ranks 1.. of the
/// object's mountpaths.
pub fn rank<I: IntoIterator<Item = u64>>(d: u64, digests: I) -> Vec<usize> {
    let mut w: Vec<(usize, u64)> = digests
        .into_iter()
        .enumerate()
        .map(|(i, node)| (i, mix(node ^ d)))
        .collect();
    w.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    w.into_iter().map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh64::xxh64;

    #[test]
    fn mixer_matches_spec_vectors() {
        assert_eq!(mix(0), 1905207664160064169);
        assert_eq!(mix(4573842), 5026071747115404967);
    }

    #[test]
    fn xxh64_seed0_matches_published_values() {
        assert_eq!(xxh64(b"", 0), 0xef46db3751d8e999);
        assert_eq!(xxh64(b"abc", 0), 0x44bc2cf5ad770999);
        assert_eq!(xxh64(b"hello", 0), 0x26c7827d889f6da3);
    }

    #[test]
    fn node_digests_match_spec_vectors() {
        assert_eq!(digest(b"lgGt8081"), 14833867757108564157);
        assert_eq!(digest(b"Xyzt8082"), 2068147387359476385);
        assert_eq!(digest(b"abct8083"), 2683757838127109402);
    }

    #[test]
    fn target_choice_matches_spec_vector() {
        let u = uname("ais", "", "mybucket", "obj1");
        assert_eq!(u, "ais/@#/mybucket/obj1");
        let d = digest(u.as_bytes());
        assert_eq!(d, 17037399786638499582);
        let ids = ["lgGt8081", "Xyzt8082", "abct8083"];
        let weights: Vec<u64> = ids
            .iter()
            .map(|id| mix(digest(id.as_bytes()) ^ d))
            .collect();
        assert_eq!(
            weights,
            vec![
                15721621995959914754,
                13045397399144962678,
                13416372772759942303
            ]
        );
        let i = choose(d, ids.iter().map(|id| digest(id.as_bytes()))).unwrap();
        assert_eq!(ids[i], "lgGt8081");
    }

    #[test]
    fn mountpath_choice_matches_spec_vector() {
        let d = digest(b"ais/@#/mybucket/obj1");
        assert_eq!(digest(b"/vdh"), 16110015626313856420);
        assert_eq!(digest(b"/vdi"), 2289950066244532534);
        assert_eq!(mix(digest(b"/vdh") ^ d), 1776551579408888955);
        assert_eq!(mix(digest(b"/vdi") ^ d), 11967674779712728669);
        let i = choose(d, [digest(b"/vdh"), digest(b"/vdi")]).unwrap();
        assert_eq!(i, 1);
    }

    #[test]
    fn choose_with_no_candidates_is_none() {
        assert_eq!(choose(1, std::iter::empty()), None);
    }

    #[test]
    fn rank_starts_with_choose_and_is_a_permutation() {
        let mps: Vec<u64> = (0..7u64)
            .map(|i| digest(format!("/mp{i}").as_bytes()))
            .collect();
        for o in 0..200u64 {
            let d = digest(format!("obj{o}").as_bytes());
            let r = rank(d, mps.iter().copied());
            assert_eq!(Some(r[0]), choose(d, mps.iter().copied()));
            let mut s = r.clone();
            s.sort_unstable();
            assert_eq!(s, (0..7).collect::<Vec<_>>());
            // Removing the top candidate promotes the second (HRW's minimal movement).
            let rest: Vec<u64> = mps
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != r[0])
                .map(|(_, m)| *m)
                .collect();
            let c = choose(d, rest.iter().copied()).unwrap();
            assert_eq!(rest[c], mps[r[1]]);
        }
    }
}
