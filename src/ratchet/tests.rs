use super::*;
use proptest::prelude::*;

fn chain_key() -> ChainKey {
    ChainKey::from_bytes([7; 32])
}

/// The first `n` message keys of the chain, as the sender makes them.
fn sent(n: u64) -> Vec<[u8; 32]> {
    let mut sender = SenderChain::new(chain_key());
    (1..=n)
        .map(|expected| {
            let (seq, key) = sender.next().unwrap();
            assert_eq!(seq, expected);
            *key.as_bytes()
        })
        .collect()
}

/// Stages and commits `seq`, returning its key.
fn receive(chain: &mut ReceiverChain, seq: u64) -> Result<[u8; 32], RatchetError> {
    let staged = chain.key_for(seq)?;
    let key = *staged.key().as_bytes();
    chain.commit(staged)?;
    Ok(key)
}

fn receiver() -> ReceiverChain {
    ReceiverChain::new(chain_key(), 1)
}

#[test]
fn the_zero_padded_hmac_key_is_plain_hmac() {
    let key = [0x5a; 32];
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(&[CHAIN_INPUT]);
    assert_eq!(
        &hmac_sha256(&key, CHAIN_INPUT)[..],
        &mac.finalize().into_bytes()[..]
    );
}

#[test]
fn sender_and_receiver_agree_in_order() {
    let keys = sent(20);
    let mut chain = receiver();
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(&receive(&mut chain, i as u64 + 1).unwrap(), key);
    }
    assert_eq!(chain.next_seq(), 21);
    assert_eq!(chain.skipped_len(), 0);
    // Every key differs from every other.
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len());
}

#[test]
fn numbers_start_at_1_and_a_joiner_starts_where_the_sender_is() {
    let mut sender = SenderChain::new(chain_key());
    assert_eq!(sender.next_seq(), 1);
    sender.next().unwrap();
    sender.next().unwrap();
    let mut joiner = sender.receiver();
    let (seq, key) = sender.next().unwrap();
    assert_eq!(seq, 3);
    assert_eq!(&receive(&mut joiner, 3).unwrap(), key.as_bytes());
    assert_eq!(joiner.key_for(2).unwrap_err(), RatchetError::TooOld(2));
    assert_eq!(joiner.key_for(0).unwrap_err(), RatchetError::ZeroSequence);
}

#[test]
fn out_of_order_within_the_window_opens() {
    let keys = sent(10);
    let mut chain = receiver();
    for seq in [5, 2, 9, 1, 10, 3, 4, 8, 6, 7] {
        assert_eq!(receive(&mut chain, seq).unwrap(), keys[seq as usize - 1]);
    }
    assert_eq!(chain.skipped_len(), 0);
    assert_eq!(chain.next_seq(), 11);
}

#[test]
fn a_key_cannot_be_obtained_twice() {
    let mut chain = receiver();
    receive(&mut chain, 3).unwrap();
    assert_eq!(receive(&mut chain, 3), Err(RatchetError::AlreadyUsed(3)));
    receive(&mut chain, 1).unwrap();
    assert_eq!(chain.key_for(1).unwrap_err(), RatchetError::AlreadyUsed(1));
    // Two stagings of one message (a duplicate inside a batch): the
    // second commit is refused.
    let first = chain.key_for(2).unwrap();
    let second = chain.key_for(2).unwrap();
    chain.commit(first).unwrap();
    assert_eq!(chain.commit(second), Err(RatchetError::AlreadyUsed(2)));
    let first = chain.key_for(4).unwrap();
    let second = chain.key_for(4).unwrap();
    chain.commit(first).unwrap();
    assert_eq!(chain.commit(second), Err(RatchetError::AlreadyUsed(4)));
}

#[test]
fn the_forward_jump_is_bounded_and_a_refusal_changes_nothing() {
    let mut chain = receiver();
    let before = chain.clone();
    let too_far = 1 + MAX_FORWARD_JUMP + 1;
    assert_eq!(
        chain.key_for(too_far).unwrap_err(),
        RatchetError::TooFarAhead {
            seq: too_far,
            next: 1
        }
    );
    assert!(chain.same_state(&before));
    assert_eq!(
        chain.key_for(u64::MAX).unwrap_err(),
        RatchetError::TooFarAhead {
            seq: u64::MAX,
            next: 1
        }
    );
    // The largest jump allowed works and fills the store exactly.
    let key = receive(&mut chain, too_far - 1).unwrap();
    let mut sender = SenderChain::new(chain_key());
    let expected = (0..too_far - 1).map(|_| sender.next().unwrap().1).last();
    assert_eq!(&key, expected.unwrap().as_bytes());
    assert_eq!(chain.skipped_len(), MAX_FORWARD_JUMP as usize);
}

#[test]
fn the_skipped_store_drops_the_oldest_first() {
    let mut chain = receiver();
    // 2000 skipped by the first jump, 10 more by the second: 1..=10
    // are dropped.
    let first = MAX_SKIPPED_KEYS as u64 + 1;
    receive(&mut chain, first).unwrap();
    assert_eq!(chain.skipped_len(), MAX_SKIPPED_KEYS);
    receive(&mut chain, first + 11).unwrap();
    assert_eq!(chain.skipped_len(), MAX_SKIPPED_KEYS);
    for seq in 1..=10 {
        assert_eq!(chain.key_for(seq).unwrap_err(), RatchetError::TooOld(seq));
    }
    let keys = sent(first + 11);
    for seq in [11, 500, first - 1, first + 1, first + 10] {
        assert_eq!(receive(&mut chain, seq).unwrap(), keys[seq as usize - 1]);
    }
    assert_eq!(chain.skipped_len(), MAX_SKIPPED_KEYS - 5);
    // Used keys above the floor are reported as used, not too old.
    assert_eq!(
        chain.key_for(11).unwrap_err(),
        RatchetError::AlreadyUsed(11)
    );
}

#[test]
fn a_staged_key_not_committed_leaves_the_chain_unchanged() {
    let mut chain = receiver();
    receive(&mut chain, 3).unwrap();
    let before = chain.clone();
    for seq in [1, 2, 4, 50, MAX_FORWARD_JUMP + 4] {
        let staged = chain.key_for(seq).unwrap();
        assert_eq!(staged.seq(), seq);
        drop(staged);
        assert!(chain.same_state(&before), "staging {seq} changed the chain");
    }
    // And the keys are still there afterwards.
    let keys = sent(4);
    assert_eq!(receive(&mut chain, 1).unwrap(), keys[0]);
    assert_eq!(receive(&mut chain, 4).unwrap(), keys[3]);
}

#[test]
fn stagings_from_one_state_commit_in_any_order() {
    let keys = sent(6);
    let mut chain = receiver();
    let staged: Vec<Staged> = [4, 2, 6, 5]
        .iter()
        .map(|&s| chain.key_for(s).unwrap())
        .collect();
    for staged in staged {
        assert_eq!(staged.key().as_bytes(), &keys[staged.seq() as usize - 1]);
        chain.commit(staged).unwrap();
    }
    assert_eq!(chain.next_seq(), 7);
    // 1 and 3 are still awaited; nothing else is kept.
    assert_eq!(chain.skipped_len(), 2);
    assert_eq!(receive(&mut chain, 3).unwrap(), keys[2]);
    assert_eq!(receive(&mut chain, 1).unwrap(), keys[0]);
}

#[test]
fn a_staging_from_a_later_state_is_refused() {
    let mut ahead = receiver();
    receive(&mut ahead, 5).unwrap();
    let staged = ahead.key_for(9).unwrap();
    let mut behind = receiver();
    let before = behind.clone();
    assert_eq!(behind.commit(staged), Err(RatchetError::Mismatch));
    assert!(behind.same_state(&before));
}

#[test]
fn a_stolen_chain_state_cannot_open_earlier_messages() {
    let keys = sent(8);
    let mut chain = receiver();
    for seq in 1..=5 {
        receive(&mut chain, seq).unwrap();
    }
    // The thief has the state itself, and its storage form.
    let stolen = chain.clone();
    let json = serde_json::to_vec(&stolen).unwrap();
    let wire = postcard::to_stdvec(&stolen).unwrap();
    for seq in 1..=5 {
        assert!(stolen.key_for(seq).is_err(), "message {seq}");
    }
    // Nothing the state can derive from here on is an earlier key, and
    // no earlier key, seed or chain key appears in its bytes.
    let mut earlier: Vec<[u8; 32]> = keys[..5].to_vec();
    let mut ck = chain_key();
    for _ in 0..5 {
        earlier.push(*ck.as_bytes());
        earlier.push(*hmac_sha256(ck.as_bytes(), SEED_INPUT));
        ck = ck.step().1;
    }
    let mut thief = stolen.clone();
    for seq in 6..=8 {
        let key = receive(&mut thief, seq).unwrap();
        assert_eq!(key, keys[seq as usize - 1]);
        assert!(!earlier.contains(&key));
    }
    for secret in &earlier {
        let hex = crate::hex::encode(secret);
        assert!(!json.windows(hex.len()).any(|w| w == hex.as_bytes()));
        assert!(!wire.windows(32).any(|w| w == secret));
    }
    // The sender's side: after sending 5, its state gives 6 onwards.
    let mut sender = SenderChain::new(chain_key());
    for _ in 0..5 {
        sender.next().unwrap();
    }
    let wire = postcard::to_stdvec(&sender).unwrap();
    for secret in &earlier {
        assert!(!wire.windows(32).any(|w| w == secret));
    }
    assert_eq!(sender.next().unwrap().1.as_bytes(), &keys[5]);
}

#[test]
fn states_round_trip_through_json_and_postcard() {
    let mut chain = receiver();
    receive(&mut chain, 4).unwrap();
    receive(&mut chain, 2).unwrap();
    let json = serde_json::to_string(&chain).unwrap();
    let back: ReceiverChain = serde_json::from_str(&json).unwrap();
    assert!(back.same_state(&chain));
    let wire = postcard::to_stdvec(&chain).unwrap();
    let back: ReceiverChain = postcard::from_bytes(&wire).unwrap();
    assert!(back.same_state(&chain));

    let mut sender = SenderChain::new(chain_key());
    sender.next().unwrap();
    let json = serde_json::to_string(&sender).unwrap();
    let mut back: SenderChain = serde_json::from_str(&json).unwrap();
    assert_eq!(back.next_seq(), 2);
    assert_eq!(
        back.next().unwrap().1.as_bytes(),
        sender.next().unwrap().1.as_bytes()
    );
}

fn state_json(next_seq: u64, floor: u64, skipped: &[u64]) -> String {
    let key = format!("\"{}\"", "07".repeat(32));
    let pairs: Vec<String> = skipped.iter().map(|s| format!("[{s},{key}]")).collect();
    format!(
        "{{\"next_seq\":{next_seq},\"chain_key\":{key},\"floor\":{floor},\"skipped\":[{}]}}",
        pairs.join(",")
    )
}

#[test]
fn inconsistent_or_oversized_states_are_refused() {
    let ok = state_json(10, 2, &[3, 5, 9]);
    assert!(serde_json::from_str::<ReceiverChain>(&ok).is_ok());
    for bad in [
        state_json(0, 0, &[]),
        state_json(5, 5, &[]),
        state_json(10, 2, &[2]),
        state_json(10, 2, &[10]),
        state_json(10, 2, &[5, 3]),
        state_json(10, 2, &[5, 5]),
    ] {
        assert!(
            serde_json::from_str::<ReceiverChain>(&bad).is_err(),
            "{bad}"
        );
    }
    let many: Vec<u64> = (1..=MAX_SKIPPED_KEYS as u64 + 1).collect();
    let over = state_json(MAX_SKIPPED_KEYS as u64 + 5, 0, &many);
    assert!(serde_json::from_str::<ReceiverChain>(&over).is_err());
    let at = state_json(MAX_SKIPPED_KEYS as u64 + 5, 0, &many[1..]);
    assert!(serde_json::from_str::<ReceiverChain>(&at).is_ok());
    // Postcard states its length first: refused before reading on.
    // next_seq 10, the chain key, floor 2, then 65535 skipped keys.
    let mut wire = vec![10];
    wire.extend_from_slice(&[7; 32]);
    wire.extend_from_slice(&[2, 0xff, 0xff, 0x03]);
    assert!(postcard::from_bytes::<ReceiverChain>(&wire).is_err());
    let sender = format!("{{\"next_seq\":0,\"chain_key\":\"{}\"}}", "07".repeat(32));
    assert!(serde_json::from_str::<SenderChain>(&sender).is_err());
}

#[test]
fn debug_output_shows_no_key_material() {
    let mut chain = receiver();
    receive(&mut chain, 3).unwrap();
    let staged = chain.key_for(1).unwrap();
    let sender = SenderChain::new(chain_key());
    let shown = format!(
        "{chain:?} {staged:?} {sender:?} {:?} {:?}",
        chain_key(),
        staged.key()
    );
    for secret in [*chain_key().as_bytes(), *staged.key().as_bytes()] {
        assert!(!shown.contains(&crate::hex::encode(&secret)));
        assert!(!shown.contains(&format!("{:?}", &secret[..4])[1..]));
    }
    assert!(shown.contains("redacted"));
}

#[test]
fn an_exhausted_chain_refuses_instead_of_wrapping() {
    let mut sender: SenderChain = serde_json::from_str(&format!(
        "{{\"next_seq\":{},\"chain_key\":\"{}\"}}",
        u64::MAX,
        "07".repeat(32)
    ))
    .unwrap();
    assert_eq!(sender.next().unwrap_err(), RatchetError::Exhausted);
    assert_eq!(sender.next_seq(), u64::MAX);
    let chain = ReceiverChain::new(chain_key(), u64::MAX);
    assert_eq!(
        chain.key_for(u64::MAX).unwrap_err(),
        RatchetError::Exhausted
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_delivery_order_opens_every_message_once(
        order in Just((1..=40u64).collect::<Vec<_>>()).prop_shuffle(),
        duplicates in proptest::collection::vec(1..=40u64, 0..10),
    ) {
        let keys = sent(40);
        let mut chain = receiver();
        for &seq in &order {
            prop_assert_eq!(receive(&mut chain, seq).unwrap(), keys[seq as usize - 1]);
        }
        for seq in duplicates {
            prop_assert_eq!(receive(&mut chain, seq), Err(RatchetError::AlreadyUsed(seq)));
        }
        prop_assert_eq!(chain.skipped_len(), 0);
        prop_assert_eq!(chain.next_seq(), 41);
    }

    #[test]
    fn a_batch_staged_at_once_commits_in_any_order(
        batch in proptest::collection::btree_set(1..=60u64, 1..30)
            .prop_map(|set| set.into_iter().collect::<Vec<_>>())
            .prop_shuffle(),
        before in 0..10u64,
    ) {
        let keys = sent(70);
        let mut chain = receiver();
        // Some history first, so stagings start from the store too.
        if before > 0 {
            receive(&mut chain, before).unwrap();
        }
        let mut sequential = chain.clone();
        let staged: Vec<Staged> =
            batch.iter().filter_map(|&seq| chain.key_for(seq).ok()).collect();
        for staged in staged {
            let seq = staged.seq();
            prop_assert_eq!(staged.key().as_bytes(), &keys[seq as usize - 1]);
            chain.commit(staged).unwrap();
            receive(&mut sequential, seq).unwrap();
        }
        prop_assert!(chain.same_state(&sequential));
    }

    #[test]
    fn lost_messages_leave_exactly_their_keys(
        delivered in proptest::collection::btree_set(1..=60u64, 1..60),
    ) {
        let keys = sent(60);
        let mut chain = receiver();
        for &seq in &delivered {
            prop_assert_eq!(receive(&mut chain, seq).unwrap(), keys[seq as usize - 1]);
        }
        let highest = *delivered.iter().next_back().unwrap();
        prop_assert_eq!(chain.next_seq(), highest + 1);
        prop_assert_eq!(chain.skipped_len() as u64, highest - delivered.len() as u64);
    }
}
