//! The client-side partition assignors of the classic consumer group protocol, under the
//! names the Java client and librdkafka give them (`partition.assignment.strategy`):
//!
//! | name                 | Java class                  | rebalance protocols  |
//! |----------------------|-----------------------------|----------------------|
//! | `range`              | `RangeAssignor`             | eager                |
//! | `roundrobin`         | `RoundRobinAssignor`        | eager                |
//! | `cooperative-sticky` | `CooperativeStickyAssignor` | cooperative, eager   |
//!
//! The group leader runs one of them over every member's subscription ([`Member`]) and the
//! partition counts of the subscribed topics ([`PartitionCounts`]). Each is a pure,
//! deterministic function with the Java client's (kafka-clients 4.x) semantics:
//!
//! * `range`: per topic, the subscribed members sorted by `group.instance.id` where they
//!   have one (those first), else by member id, each take a contiguous range; the first
//!   `partitions % members` take one more.
//! * `roundrobin`: every partition of every subscribed topic, sorted by topic then
//!   partition, dealt to the members in the same order, skipping those not subscribed to
//!   the partition's topic.
//! * `cooperative-sticky`: Java's `AbstractStickyAssignor`, balanced and sticky. Members
//!   keep the partitions they owned (the claim of the highest generation wins; two claims
//!   in one generation void both) as far as balance allows. Then the cooperative rule: a
//!   partition that moves from one member to another is withheld from its new owner in
//!   this rebalance, for its old owner first revokes it; the next rebalance assigns it.
//!
//! Where Java's result depends on the iteration order of its hash maps of member ids,
//! these functions take members in member-id order: the same result Java gives when its
//! maps iterate that way. That decides, when all subscriptions are equal, which members
//! keep one partition over the minimum quota; and, when members of one older generation
//! claim the same partition, which of them counts as its previous owner (Java iterates
//! the subscriptions in the order the coordinator listed the members). Where Java picks the first element of a hash set of
//! partitions (one of those that already moved between the same two members), the choice
//! follows Java's `HashSet` order, which depends on the partitions alone.
//!
//! Differences from Java, all on input Java mishandles: owned partitions that do not exist
//! (negative, or beyond the topic's partition count) are ignored; the sticky assignor
//! moves a partition back to a previous owner of an older generation only when that
//! member still subscribes to its topic (Java can hand it to a member no longer
//! subscribed, or fail). Duplicate member ids: the first member of an id counts.
//!
//! Rack-aware assignment (KIP-881) is not implemented: a member's rack is carried but not
//! used, and there are no partition replica racks to match it against. That is also what
//! the Java client does when replica racks are unknown.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

/// A partition of a topic; ordered by topic name, then partition number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A group member's subscription, as the leader reads it from the JoinGroup response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// Its `group.instance.id` when it is a static member.
    pub group_instance_id: Option<String>,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// The partitions it owns now (sent with the subscription for the sticky assignors).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it was assigned `owned_partitions`; `None` when unknown
    /// (Java's `-1`).
    pub generation: Option<i32>,
    /// Its `client.rack`. Carried, unused: see the module notes on rack awareness.
    pub rack: Option<String>,
}

impl Member {
    /// A member with an id and its subscription, owning nothing.
    pub fn new<S: Into<String>>(
        member_id: impl Into<String>,
        topics: impl IntoIterator<Item = S>,
    ) -> Self {
        Member {
            member_id: member_id.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            ..Member::default()
        }
    }
}

/// Partition count per topic; topics missing, or with no partitions, are not assigned.
pub type PartitionCounts = BTreeMap<String, i32>;

/// Member id to the partitions assigned to it, sorted. Every member has an entry, even
/// with no partitions.
pub type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// The rebalance protocols of KIP-429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceProtocol {
    /// Every member gives up all its partitions before the assignment.
    Eager,
    /// Members keep their partitions and revoke only those the assignment moves.
    Cooperative,
}

/// A built-in assignor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assignor {
    /// `range`
    Range,
    /// `roundrobin`
    RoundRobin,
    /// `cooperative-sticky`
    CooperativeSticky,
}

impl Assignor {
    /// Every assignor.
    pub const ALL: [Assignor; 3] = [
        Assignor::Range,
        Assignor::RoundRobin,
        Assignor::CooperativeSticky,
    ];

    /// The protocol name members announce in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// Whether the assignor follows the cooperative rebalance protocol.
    pub fn supports_cooperative(self) -> bool {
        self == Assignor::CooperativeSticky
    }

    /// The rebalance protocols the assignor supports, the preferred first (Java's
    /// `supportedProtocols`).
    pub fn supported_protocols(self) -> &'static [RebalanceProtocol] {
        match self {
            Assignor::CooperativeSticky => {
                &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
            }
            _ => &[RebalanceProtocol::Eager],
        }
    }

    /// Assigns the subscribed topics' partitions among `members`.
    pub fn assign(self, members: &[Member], partitions: &PartitionCounts) -> Assignment {
        match self {
            Assignor::Range => range(members, partitions),
            Assignor::RoundRobin => round_robin(members, partitions),
            Assignor::CooperativeSticky => cooperative_sticky(members, partitions).assignment,
        }
    }
}

impl fmt::Display for Assignor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An assignor name that is not one of [`Assignor::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAssignor(pub String);

impl fmt::Display for UnknownAssignor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown partition assignor {:?}", self.0)
    }
}

impl std::error::Error for UnknownAssignor {}

impl FromStr for Assignor {
    type Err = UnknownAssignor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Assignor::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| UnknownAssignor(s.to_string()))
    }
}

/// The protocol a group uses, given each member's protocol names in its order of
/// preference, as the group coordinator chooses it: only a protocol every member lists
/// is a candidate; each member votes for the first candidate in its list; the most votes
/// win. On a tie, the tied protocol the first member prefers (the coordinator breaks
/// ties by its own map order). `None` when no protocol is common to all, or no members.
pub fn select_protocol<'a, L, S>(members: &'a [L]) -> Option<&'a str>
where
    L: AsRef<[S]>,
    S: AsRef<str> + 'a,
{
    let first = members.first()?.as_ref();
    let candidates: Vec<&str> = first
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| {
            members
                .iter()
                .all(|m| m.as_ref().iter().any(|q| q.as_ref() == *p))
        })
        .collect();
    let mut votes: Vec<usize> = vec![0; candidates.len()];
    for m in members {
        let vote = m
            .as_ref()
            .iter()
            .find_map(|p| candidates.iter().position(|c| *c == p.as_ref()))?;
        votes[vote] += 1;
    }
    let best = *votes.iter().max()?;
    // The first member's order: the earliest of the tied.
    let i = votes.iter().position(|&v| v == best)?;
    Some(candidates[i])
}

// ---------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------

/// The members, first of each id, with a deduplicated subscription each.
fn distinct_members(members: &[Member]) -> Vec<&Member> {
    let mut seen = HashSet::new();
    members
        .iter()
        .filter(|m| seen.insert(m.member_id.as_str()))
        .collect()
}

fn subscription(m: &Member) -> BTreeSet<&str> {
    m.topics.iter().map(String::as_str).collect()
}

/// Java's `MemberInfo` order: static members first, by instance id; then by member id.
fn member_info_order(a: &Member, b: &Member) -> std::cmp::Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// The subscribed topics that have partitions, with their counts, by name.
fn subscribed_counts<'a>(
    members: &[&'a Member],
    partitions: &PartitionCounts,
) -> BTreeMap<&'a str, i32> {
    members
        .iter()
        .flat_map(|m| m.topics.iter())
        .filter_map(|t| {
            let n = *partitions.get(t)?;
            (n > 0).then_some((t.as_str(), n))
        })
        .collect()
}

fn empty_assignment(members: &[&Member]) -> Assignment {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

fn sorted(mut a: Assignment) -> Assignment {
    for list in a.values_mut() {
        list.sort();
    }
    a
}

// ---------------------------------------------------------------------------
// range
// ---------------------------------------------------------------------------

fn range(members: &[Member], partitions: &PartitionCounts) -> Assignment {
    let members = distinct_members(members);
    let mut out = empty_assignment(&members);
    for (topic, n) in subscribed_counts(&members, partitions) {
        let mut subscribed: Vec<&Member> = members
            .iter()
            .copied()
            .filter(|m| m.topics.iter().any(|t| t == topic))
            .collect();
        subscribed.sort_by(|a, b| member_info_order(a, b));
        let c = subscribed.len() as i32;
        let (per, extra) = (n / c, n % c);
        let mut next = 0;
        for (i, m) in subscribed.iter().enumerate() {
            let take = per + i32::from((i as i32) < extra);
            let list = out
                .get_mut(&m.member_id)
                .expect("every member has an entry");
            list.extend((next..next + take).map(|p| TopicPartition::new(topic, p)));
            next += take;
        }
    }
    sorted(out)
}

// ---------------------------------------------------------------------------
// roundrobin
// ---------------------------------------------------------------------------

fn round_robin(members: &[Member], partitions: &PartitionCounts) -> Assignment {
    let members = distinct_members(members);
    let mut out = empty_assignment(&members);
    let mut order: Vec<(&Member, BTreeSet<&str>)> =
        members.iter().map(|m| (*m, subscription(m))).collect();
    order.sort_by(|a, b| member_info_order(a.0, b.0));
    let mut next = 0;
    for (topic, n) in subscribed_counts(&members, partitions) {
        for p in 0..n {
            // Some member subscribes to every topic here, so this ends.
            while !order[next].1.contains(topic) {
                next = (next + 1) % order.len();
            }
            let list = out
                .get_mut(&order[next].0.member_id)
                .expect("every member has an entry");
            list.push(TopicPartition::new(topic, p));
            next = (next + 1) % order.len();
        }
    }
    sorted(out)
}

// ---------------------------------------------------------------------------
// cooperative-sticky
// ---------------------------------------------------------------------------

/// What the cooperative sticky assignor decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StickyOutcome {
    /// The assignment to send: the balanced one less the partitions withheld.
    pub assignment: Assignment,
    /// Partitions moving between members, withheld from their next owner (the member id
    /// here) until the member owning them now revokes them.
    pub withheld: BTreeMap<TopicPartition, String>,
}

impl StickyOutcome {
    /// The balanced assignment before the cooperative rule withheld anything (what the
    /// eager sticky protocol would assign).
    pub fn balanced(&self) -> Assignment {
        let mut a = self.assignment.clone();
        for (tp, member) in &self.withheld {
            if let Some(list) = a.get_mut(member) {
                list.push(tp.clone());
            }
        }
        sorted(a)
    }
}

/// Java's `DEFAULT_GENERATION`.
const NO_GENERATION: i32 = -1;

/// The `cooperative-sticky` assignment, with the partitions it withholds.
pub fn cooperative_sticky(members: &[Member], partitions: &PartitionCounts) -> StickyOutcome {
    let mut members = distinct_members(members);
    members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    if members.is_empty() {
        return StickyOutcome::default();
    }
    let counts = subscribed_counts(&members, partitions);
    let claims = Claims::resolve(&members, &counts);

    let (lists, withheld) = if claims.all_subscriptions_equal {
        let mut b = Constrained::new(&counts, &claims, members.len());
        b.build();
        let withheld = b.transferring;
        (b.assignment, withheld)
    } else {
        let lists = General::new(&members, &counts, claims).build();
        let withheld = transferring_ownership(&members, &lists);
        (lists, withheld)
    };

    let mut assignment = Assignment::new();
    let mut withheld_by_id = BTreeMap::new();
    for (i, mut list) in lists.into_iter().enumerate() {
        list.retain(|tp| match withheld.get(tp) {
            Some(&to) if to == i => {
                withheld_by_id.insert(tp.clone(), members[i].member_id.clone());
                false
            }
            _ => true,
        });
        list.sort();
        assignment.insert(members[i].member_id.clone(), list);
    }
    StickyOutcome {
        assignment,
        withheld: withheld_by_id,
    }
}

/// The owned partitions each member may keep (Java's `allSubscriptionsEqual`).
struct Claims {
    all_subscriptions_equal: bool,
    /// Per member (in member-id order), the owned partitions of assignable topics that no
    /// member of a higher generation claims, in the member's order.
    owned: Vec<Vec<TopicPartition>>,
    /// Partitions claimed by two members of one generation: nobody keeps them.
    multiple_owners: HashSet<TopicPartition>,
    max_generation: i32,
}

impl Claims {
    fn resolve(members: &[&Member], counts: &BTreeMap<&str, i32>) -> Claims {
        let mut equal = true;
        let mut first: BTreeSet<&str> = BTreeSet::new();
        let mut owned: Vec<Vec<TopicPartition>> = vec![Vec::new(); members.len()];
        let mut multiple_owners = HashSet::new();
        let mut owner_of: HashMap<&TopicPartition, usize> = HashMap::new();
        let mut max_generation = NO_GENERATION;
        let generation = |i: usize| members[i].generation.unwrap_or(NO_GENERATION);
        for (i, m) in members.iter().enumerate() {
            let topics = subscription(m);
            if first.is_empty() {
                first = topics;
            } else if equal && topics != first {
                equal = false;
            }
            let gen = generation(i);
            max_generation = max_generation.max(gen);
            for tp in &m.owned_partitions {
                let exists = counts
                    .get(tp.topic.as_str())
                    .is_some_and(|&n| (0..n).contains(&tp.partition));
                if !exists {
                    continue;
                }
                match owner_of.get(tp).copied() {
                    None => {
                        owned[i].push(tp.clone());
                        owner_of.insert(tp, i);
                    }
                    Some(other) => {
                        let other_gen = generation(other);
                        if gen >= other_gen {
                            remove_first(&mut owned[other], tp);
                            owner_of.insert(tp, i);
                            if gen == other_gen {
                                multiple_owners.insert(tp.clone());
                            } else {
                                owned[i].push(tp.clone());
                            }
                        }
                    }
                }
            }
        }
        Claims {
            all_subscriptions_equal: equal,
            owned,
            multiple_owners,
            max_generation,
        }
    }
}

fn remove_first(list: &mut Vec<TopicPartition>, tp: &TopicPartition) -> bool {
    match list.iter().position(|x| x == tp) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

/// Every partition of `counts`, topics by name, partitions ascending.
fn all_partitions(counts: &BTreeMap<&str, i32>) -> Vec<TopicPartition> {
    counts
        .iter()
        .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(*t, p)))
        .collect()
}

/// Java's `ConstrainedAssignmentBuilder`: every member subscribes to the same topics, so
/// each gets the minimum quota or one more; members keep owned partitions up to that.
struct Constrained<'a> {
    counts: &'a BTreeMap<&'a str, i32>,
    claims: &'a Claims,
    min_quota: usize,
    max_quota: usize,
    expected_over_min: usize,
    current_over_min: usize,
    assignment: Vec<Vec<TopicPartition>>,
    /// Owned partitions a member gave up (over its quota): to whom they belonged.
    maybe_revoked: HashMap<TopicPartition, usize>,
    /// Partitions assigned to a member other than the one owning them: to whom.
    transferring: HashMap<TopicPartition, usize>,
}

impl<'a> Constrained<'a> {
    fn new(counts: &'a BTreeMap<&'a str, i32>, claims: &'a Claims, n: usize) -> Self {
        let total: usize = counts.values().map(|&c| c as usize).sum();
        Constrained {
            counts,
            claims,
            min_quota: total / n,
            max_quota: total.div_ceil(n),
            expected_over_min: total % n,
            current_over_min: 0,
            assignment: vec![Vec::new(); n],
            maybe_revoked: HashMap::new(),
            transferring: HashMap::new(),
        }
    }

    fn build(&mut self) {
        let mut under_min: Vec<usize> = Vec::new();
        let mut exactly_min: std::collections::VecDeque<usize> = Default::default();
        let mut assigned: HashSet<TopicPartition> = HashSet::new();

        // Members keep owned partitions up to their quota, in member-id order.
        for (i, owned) in self.claims.owned.iter().enumerate() {
            let mut owned: Vec<&TopicPartition> = owned
                .iter()
                .filter(|tp| !self.claims.multiple_owners.contains(*tp))
                .collect();
            owned.sort_by(|a, b| (a.partition, &a.topic).cmp(&(b.partition, &b.topic)));
            let keep = if owned.len() < self.min_quota {
                under_min.push(i);
                owned.len()
            } else if owned.len() >= self.max_quota
                && self.current_over_min < self.expected_over_min
            {
                self.current_over_min += 1;
                if self.current_over_min == self.expected_over_min {
                    exactly_min.clear();
                }
                self.max_quota
            } else {
                if self.current_over_min < self.expected_over_min {
                    exactly_min.push_back(i);
                }
                self.min_quota
            };
            for tp in &owned[..keep] {
                self.assignment[i].push((*tp).clone());
                assigned.insert((*tp).clone());
            }
            for tp in &owned[keep..] {
                self.maybe_revoked.insert((*tp).clone(), i);
            }
        }

        let unassigned: Vec<TopicPartition> = all_partitions(self.counts)
            .into_iter()
            .filter(|tp| !assigned.contains(tp))
            .collect();
        // Both lists are in member-id order already (Java sorts them here).

        // Round robin over the members under the minimum, then one more each to members
        // at the minimum until enough members have one more.
        let mut cursor = 0;
        for tp in unassigned {
            let member = if cursor < under_min.len() {
                cursor += 1;
                under_min[cursor - 1]
            } else if under_min.is_empty() {
                match exactly_min.pop_front() {
                    Some(m) => m,
                    // Java throws here; the quotas make it unreachable.
                    None => break,
                }
            } else {
                cursor = 1;
                under_min[0]
            };
            let count = self.assign_new(tp, member);
            if count == self.min_quota {
                // `member` came from `under_min` at `cursor - 1`.
                cursor -= 1;
                under_min.remove(cursor);
                exactly_min.push_back(member);
            } else if count == self.max_quota {
                self.current_over_min += 1;
            }
        }
    }

    fn assign_new(&mut self, tp: TopicPartition, member: usize) -> usize {
        let moving = self.maybe_revoked.get(&tp).is_some_and(|&o| o != member)
            || self.claims.multiple_owners.contains(&tp);
        if moving {
            self.transferring.insert(tp.clone(), member);
        }
        self.assignment[member].push(tp);
        self.assignment[member].len()
    }
}

/// Partitions assigned to a member that does not own them while another member owns
/// them and is not assigned them: to whom (Java's `computePartitionsTransferringOwnership`).
fn transferring_ownership(
    members: &[&Member],
    lists: &[Vec<TopicPartition>],
) -> HashMap<TopicPartition, usize> {
    let mut added = HashMap::new();
    let mut revoked = HashSet::new();
    for (i, m) in members.iter().enumerate() {
        let owned: HashSet<&TopicPartition> = m.owned_partitions.iter().collect();
        let assigned: HashSet<&TopicPartition> = lists[i].iter().collect();
        for tp in &lists[i] {
            if !owned.contains(tp) {
                added.insert(tp.clone(), i);
            }
        }
        for tp in &m.owned_partitions {
            if !assigned.contains(tp) {
                revoked.insert(tp.clone());
            }
        }
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}

/// Java's `PartitionMovements`: which partitions moved between which members during one
/// assignment, so a partition moving back undoes a move instead of making another.
#[derive(Default)]
struct Movements {
    /// Per topic, per (from, to), the partitions that moved.
    by_topic: HashMap<String, HashMap<(usize, usize), JavaHashSet>>,
    moved: HashMap<TopicPartition, (usize, usize)>,
}

impl Movements {
    fn remove_record(&mut self, tp: &TopicPartition) -> (usize, usize) {
        let pair = self.moved.remove(tp).expect("a recorded movement");
        let topic = self.by_topic.get_mut(&tp.topic).expect("a recorded topic");
        let set = topic.get_mut(&pair).expect("a recorded pair");
        set.items.retain(|x| x != tp);
        if set.items.is_empty() {
            topic.remove(&pair);
        }
        if topic.is_empty() {
            self.by_topic.remove(&tp.topic);
        }
        pair
    }

    fn add_record(&mut self, tp: &TopicPartition, pair: (usize, usize)) {
        self.moved.insert(tp.clone(), pair);
        self.by_topic
            .entry(tp.topic.clone())
            .or_default()
            .entry(pair)
            .or_insert_with(JavaHashSet::new)
            .insert(tp.clone());
    }

    fn move_partition(&mut self, tp: &TopicPartition, from: usize, to: usize) {
        if self.moved.contains_key(tp) {
            let (src, _) = self.remove_record(tp);
            if src != to {
                self.add_record(tp, (src, to));
            }
        } else {
            self.add_record(tp, (from, to));
        }
    }

    /// The partition to move from `from` to `to` in place of `tp`: one that earlier
    /// moved the other way, if any (the first Java's hash set of them yields).
    fn actual_partition_to_move(
        &self,
        tp: &TopicPartition,
        from: usize,
        to: usize,
    ) -> TopicPartition {
        let Some(topic) = self.by_topic.get(&tp.topic) else {
            return tp.clone();
        };
        let from = self.moved.get(tp).map_or(from, |&(src, _)| src);
        match topic.get(&(to, from)).and_then(JavaHashSet::first) {
            Some(other) => other.clone(),
            None => tp.clone(),
        }
    }
}

/// A set of partitions that knows which one a Java `HashSet<TopicPartition>` holding the
/// same partitions, added in the same order, yields first: the one in the lowest bucket
/// (`TopicPartition.hashCode`, spread as `HashMap` does, masked by the table size), the
/// earliest added of that bucket. The table starts at 16 buckets and doubles past a load
/// of 3/4, or when a bucket would hold more than 8 while under 64 buckets (larger tables
/// turn such buckets into trees, which this does not follow).
struct JavaHashSet {
    buckets: usize,
    /// In the order added.
    items: Vec<TopicPartition>,
}

impl JavaHashSet {
    fn new() -> Self {
        JavaHashSet {
            buckets: 16,
            items: Vec::new(),
        }
    }

    fn java_hash(tp: &TopicPartition) -> u32 {
        let topic = tp
            .topic
            .encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
        let h = 31i32
            .wrapping_mul(31i32.wrapping_add(tp.partition))
            .wrapping_add(topic) as u32;
        h ^ (h >> 16)
    }

    fn bucket(&self, tp: &TopicPartition) -> usize {
        Self::java_hash(tp) as usize & (self.buckets - 1)
    }

    fn insert(&mut self, tp: TopicPartition) {
        if self.items.contains(&tp) {
            return;
        }
        let b = self.bucket(&tp);
        let in_bucket = self.items.iter().filter(|x| self.bucket(x) == b).count();
        if in_bucket >= 8 && self.buckets < 64 {
            self.buckets *= 2;
        }
        self.items.push(tp);
        if self.items.len() > self.buckets / 4 * 3 {
            self.buckets *= 2;
        }
    }

    fn first(&self) -> Option<&TopicPartition> {
        // `min_by_key` keeps the first of equal keys: the earliest added.
        self.items.iter().min_by_key(|tp| self.bucket(tp))
    }
}

/// Java's `GeneralAssignmentBuilder`: subscriptions differ; fill the least loaded members
/// first, then move partitions from the most to the least loaded until no move helps.
struct General<'a> {
    members: &'a [&'a Member],
    counts: &'a BTreeMap<&'a str, i32>,
    claims: Claims,
    total: usize,
    /// Per topic, the members subscribed to it (member-id order).
    topic_members: BTreeMap<&'a str, Vec<usize>>,
    /// Per member, its subscribed topics that have partitions.
    member_topics: Vec<BTreeSet<&'a str>>,
    current: Vec<Vec<TopicPartition>>,
    owner: HashMap<TopicPartition, usize>,
    /// Members by (partition count, member id), the fixed ones left out during balancing.
    by_load: BTreeSet<(usize, usize)>,
    fixed: Vec<bool>,
    sorted_partitions: Vec<TopicPartition>,
    revocation_required: bool,
    movements: Movements,
}

impl<'a> General<'a> {
    fn new(members: &'a [&'a Member], counts: &'a BTreeMap<&'a str, i32>, claims: Claims) -> Self {
        let member_topics: Vec<BTreeSet<&str>> = members
            .iter()
            .map(|m| {
                m.topics
                    .iter()
                    .filter_map(|t| counts.get_key_value(t.as_str()).map(|(k, _)| *k))
                    .collect()
            })
            .collect();
        let mut topic_members: BTreeMap<&str, Vec<usize>> =
            counts.keys().map(|t| (*t, Vec::new())).collect();
        for (i, topics) in member_topics.iter().enumerate() {
            for t in topics {
                topic_members.get_mut(t).expect("a known topic").push(i);
            }
        }
        // Topics with the fewest potential members first, then by name.
        let mut topics: Vec<&str> = counts.keys().copied().collect();
        topics.sort_by_key(|t| (topic_members[t].len(), *t));
        let sorted_partitions = topics
            .iter()
            .flat_map(|t| (0..counts[t]).map(move |p| TopicPartition::new(*t, p)))
            .collect();
        let current = claims.owned.clone();
        let mut owner = HashMap::new();
        for (i, list) in current.iter().enumerate() {
            for tp in list {
                owner.insert(tp.clone(), i);
            }
        }
        General {
            members,
            counts,
            total: counts.values().map(|&c| c as usize).sum(),
            claims,
            topic_members,
            member_topics,
            current,
            owner,
            by_load: BTreeSet::new(),
            fixed: vec![false; members.len()],
            sorted_partitions,
            revocation_required: false,
            movements: Movements::default(),
        }
    }

    fn build(mut self) -> Vec<Vec<TopicPartition>> {
        let prev = self.previous_owners();
        let mut assigned: HashSet<TopicPartition> = HashSet::new();
        for i in 0..self.current.len() {
            let topics = &self.member_topics[i];
            let mut kept = Vec::with_capacity(self.current[i].len());
            for tp in std::mem::take(&mut self.current[i]) {
                if topics.contains(tp.topic.as_str()) {
                    assigned.insert(tp.clone());
                    kept.push(tp);
                } else {
                    // No longer subscribed: the partition goes elsewhere.
                    self.revocation_required = true;
                }
            }
            self.current[i] = kept;
        }
        let unassigned: Vec<TopicPartition> = self
            .sorted_partitions
            .iter()
            .filter(|tp| !assigned.contains(*tp))
            .cloned()
            .collect();
        self.by_load = (0..self.current.len())
            .map(|i| (self.current[i].len(), i))
            .collect();
        self.balance(&prev, unassigned);
        self.current
    }

    /// Partitions owned by members of older generations: the newest such owner of each
    /// (on a tie, the first in member-id order).
    fn previous_owners(&self) -> HashMap<TopicPartition, (usize, i32)> {
        let mut prev: HashMap<TopicPartition, (usize, i32)> = HashMap::new();
        let max = self.claims.max_generation;
        for (i, m) in self.members.iter().enumerate() {
            let gen = match m.generation {
                Some(g) if g < max => g,
                None if max > NO_GENERATION => NO_GENERATION,
                _ => continue,
            };
            for tp in &m.owned_partitions {
                match prev.get(tp) {
                    Some(&(_, g)) if g >= gen => {}
                    _ => {
                        prev.insert(tp.clone(), (i, gen));
                    }
                }
            }
        }
        prev
    }

    fn len(&self, i: usize) -> usize {
        self.current[i].len()
    }

    fn add(&mut self, i: usize, tp: TopicPartition) {
        let in_set = self.by_load.remove(&(self.len(i), i));
        self.owner.insert(tp.clone(), i);
        self.current[i].push(tp);
        if in_set {
            self.by_load.insert((self.len(i), i));
        }
    }

    fn subscribes(&self, i: usize, topic: &str) -> bool {
        self.member_topics[i].contains(topic)
    }

    /// The least loaded member subscribed to `topic`.
    fn least_loaded(&self, topic: &str) -> Option<usize> {
        self.by_load
            .iter()
            .map(|&(_, i)| i)
            .find(|&i| self.subscribes(i, topic))
    }

    fn max_assignment(&self, i: usize) -> usize {
        if self.member_topics[i].len() == self.counts.len() {
            self.total
        } else {
            self.member_topics[i]
                .iter()
                .map(|t| self.counts[t] as usize)
                .sum()
        }
    }

    fn topic_can_move(&self, topic: &str) -> bool {
        self.topic_members[topic].len() >= 2
    }

    fn member_can_move(&self, i: usize) -> bool {
        self.len(i) < self.max_assignment(i)
            || self.current[i]
                .iter()
                .any(|tp| self.topic_can_move(&tp.topic))
    }

    fn balance(
        &mut self,
        prev: &HashMap<TopicPartition, (usize, i32)>,
        mut unassigned: Vec<TopicPartition>,
    ) {
        let initializing = self
            .by_load
            .iter()
            .next_back()
            .is_some_and(|&(len, _)| len == 0);

        for tp in &unassigned {
            if let Some(i) = self.least_loaded(&tp.topic) {
                self.add(i, tp.clone());
            }
        }

        // Only partitions of topics with two or more members, and only members that can
        // give or take, take part in balancing.
        let fixed_topics: HashSet<&str> = self
            .topic_members
            .iter()
            .filter(|(_, m)| m.len() < 2)
            .map(|(t, _)| *t)
            .collect();
        self.sorted_partitions
            .retain(|tp| !fixed_topics.contains(tp.topic.as_str()));
        unassigned.retain(|tp| !fixed_topics.contains(tp.topic.as_str()));
        for i in 0..self.current.len() {
            if !self.member_can_move(i) {
                self.by_load.remove(&(self.len(i), i));
                self.fixed[i] = true;
            }
        }

        let before = self.current.clone();
        let owner_before = self.owner.clone();

        // Without revocations pending, first try moving only the newly assigned partitions.
        if !self.revocation_required {
            self.perform_reassignments(&unassigned, prev);
        }
        let all = std::mem::take(&mut self.sorted_partitions);
        let reassigned = self.perform_reassignments(&all, prev);
        self.sorted_partitions = all;

        if !initializing
            && reassigned
            && self.balance_score(&self.current) >= self.balance_score(&before)
        {
            self.current = before;
            self.owner = owner_before;
        }
    }

    /// Sum over pairs of members taking part of the difference of their loads.
    fn balance_score(&self, lists: &[Vec<TopicPartition>]) -> usize {
        let loads: Vec<usize> = (0..lists.len())
            .filter(|&i| !self.fixed[i])
            .map(|i| lists[i].len())
            .collect();
        let mut score = 0;
        for (k, a) in loads.iter().enumerate() {
            for b in &loads[k + 1..] {
                score += a.abs_diff(*b);
            }
        }
        score
    }

    /// No member could take a partition from one with two more.
    fn is_balanced(&self) -> bool {
        let (Some(&(min, _)), Some(&(max, _))) = (self.by_load.first(), self.by_load.last()) else {
            return true;
        };
        if min + 1 >= max {
            return true;
        }
        for &(len, i) in &self.by_load {
            if len == self.max_assignment(i) {
                continue;
            }
            for t in &self.member_topics[i] {
                for p in 0..self.counts[t] {
                    let tp = TopicPartition::new(*t, p);
                    match self.owner.get(&tp) {
                        Some(&o) if o != i && len + 1 < self.len(o) => return false,
                        _ => {}
                    }
                }
            }
        }
        true
    }

    fn perform_reassignments(
        &mut self,
        partitions: &[TopicPartition],
        prev: &HashMap<TopicPartition, (usize, i32)>,
    ) -> bool {
        let mut performed = false;
        loop {
            let mut modified = false;
            for tp in partitions {
                if self.is_balanced() {
                    break;
                }
                let Some(&owner) = self.owner.get(tp) else {
                    continue;
                };
                if let Some(&(p, _)) = prev.get(tp) {
                    if !self.fixed[p]
                        && self.subscribes(p, &tp.topic)
                        && self.len(owner) > self.len(p) + 1
                    {
                        self.reassign(tp, p);
                        performed = true;
                        modified = true;
                        continue;
                    }
                }
                let better = self.topic_members[tp.topic.as_str()]
                    .iter()
                    .any(|&o| self.len(owner) > self.len(o) + 1);
                if better {
                    if let Some(to) = self.least_loaded(&tp.topic) {
                        self.reassign(tp, to);
                        performed = true;
                        modified = true;
                    }
                }
            }
            if !modified {
                return performed;
            }
        }
    }

    fn reassign(&mut self, tp: &TopicPartition, to: usize) {
        let from = self.owner[tp];
        let tp = self.movements.actual_partition_to_move(tp, from, to);
        let from = self.owner[&tp];
        self.by_load.remove(&(self.len(from), from));
        self.by_load.remove(&(self.len(to), to));
        self.movements.move_partition(&tp, from, to);
        remove_first(&mut self.current[from], &tp);
        self.owner.insert(tp.clone(), to);
        self.current[to].push(tp);
        self.by_load.insert((self.len(to), to));
        self.by_load.insert((self.len(from), from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    fn counts(list: &[(&str, i32)]) -> PartitionCounts {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn owning(mut m: Member, generation: i32, owned: &[(&str, i32)]) -> Member {
        m.generation = Some(generation);
        m.owned_partitions = owned.iter().map(|(t, p)| tp(t, *p)).collect();
        m
    }

    fn of<'a>(a: &'a Assignment, id: &str) -> &'a [TopicPartition] {
        &a[id]
    }

    #[test]
    fn names_round_trip_and_only_cooperative_sticky_is_cooperative() {
        for a in Assignor::ALL {
            assert_eq!(a.name().parse::<Assignor>(), Ok(a));
            assert_eq!(a.supports_cooperative(), a == Assignor::CooperativeSticky);
            assert_eq!(
                a.supported_protocols()
                    .contains(&RebalanceProtocol::Cooperative),
                a.supports_cooperative()
            );
        }
        assert!("sticky".parse::<Assignor>().is_err());
    }

    #[test]
    fn range_gives_each_topic_contiguous_ranges_the_first_members_one_more() {
        let members = [
            Member::new("c0", ["t0", "t1"]),
            Member::new("c1", ["t0", "t1"]),
        ];
        let a = Assignor::Range.assign(&members, &counts(&[("t0", 3), ("t1", 3)]));
        assert_eq!(
            of(&a, "c0"),
            [tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]
        );
        assert_eq!(of(&a, "c1"), [tp("t0", 2), tp("t1", 2)]);
    }

    #[test]
    fn range_orders_static_members_first_by_instance_id() {
        let mut z = Member::new("a-member", ["t"]);
        let mut y = Member::new("b-member", ["t"]);
        z.group_instance_id = Some("zz".into());
        y.group_instance_id = Some("yy".into());
        let members = [Member::new("0-dynamic", ["t"]), z, y];
        let a = Assignor::Range.assign(&members, &counts(&[("t", 5)]));
        assert_eq!(of(&a, "b-member"), [tp("t", 0), tp("t", 1)]);
        assert_eq!(of(&a, "a-member"), [tp("t", 2), tp("t", 3)]);
        assert_eq!(of(&a, "0-dynamic"), [tp("t", 4)]);
    }

    #[test]
    fn range_skips_unknown_and_empty_topics_and_keeps_idle_members() {
        let members = [
            Member::new("c0", ["t", "gone", "empty"]),
            Member::new("c1", ["t"]),
        ];
        let a = Assignor::Range.assign(&members, &counts(&[("t", 1), ("empty", 0)]));
        assert_eq!(of(&a, "c0"), [tp("t", 0)]);
        assert!(of(&a, "c1").is_empty());
    }

    #[test]
    fn roundrobin_deals_sorted_partitions_skipping_unsubscribed_members() {
        // The example of Java's RoundRobinAssignor documentation.
        let members = [
            Member::new("C0", ["t0"]),
            Member::new("C1", ["t0", "t1"]),
            Member::new("C2", ["t0", "t1", "t2"]),
        ];
        let a = Assignor::RoundRobin.assign(&members, &counts(&[("t0", 1), ("t1", 2), ("t2", 3)]));
        assert_eq!(of(&a, "C0"), [tp("t0", 0)]);
        assert_eq!(of(&a, "C1"), [tp("t1", 0)]);
        assert_eq!(
            of(&a, "C2"),
            [tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]
        );
    }

    #[test]
    fn sticky_balances_a_new_group_like_roundrobin() {
        let members = [
            Member::new("a", ["t"]),
            Member::new("b", ["t"]),
            Member::new("c", ["t"]),
        ];
        let out = cooperative_sticky(&members, &counts(&[("t", 7)]));
        assert!(out.withheld.is_empty());
        assert_eq!(
            of(&out.assignment, "a"),
            [tp("t", 0), tp("t", 3), tp("t", 6)]
        );
        assert_eq!(of(&out.assignment, "b"), [tp("t", 1), tp("t", 4)]);
        assert_eq!(of(&out.assignment, "c"), [tp("t", 2), tp("t", 5)]);
    }

    #[test]
    fn sticky_keeps_owned_partitions_and_withholds_moving_ones() {
        // "a" owned all four; "b" joins. "a" keeps two, and the two for "b" wait until
        // "a" has revoked them.
        let members = [
            owning(
                Member::new("a", ["t"]),
                3,
                &[("t", 0), ("t", 1), ("t", 2), ("t", 3)],
            ),
            Member::new("b", ["t"]),
        ];
        let out = cooperative_sticky(&members, &counts(&[("t", 4)]));
        assert_eq!(of(&out.assignment, "a"), [tp("t", 0), tp("t", 1)]);
        assert!(of(&out.assignment, "b").is_empty());
        let withheld: Vec<_> = out
            .withheld
            .iter()
            .map(|(p, m)| (p.clone(), m.as_str()))
            .collect();
        assert_eq!(withheld, [(tp("t", 2), "b"), (tp("t", 3), "b")]);
        assert_eq!(of(&out.balanced(), "b"), [tp("t", 2), tp("t", 3)]);
        // Next rebalance: "a" owns two; "b" gets the other two at once.
        let members = [
            owning(Member::new("a", ["t"]), 4, &[("t", 0), ("t", 1)]),
            owning(Member::new("b", ["t"]), 4, &[]),
        ];
        let out = cooperative_sticky(&members, &counts(&[("t", 4)]));
        assert!(out.withheld.is_empty());
        assert_eq!(of(&out.assignment, "b"), [tp("t", 2), tp("t", 3)]);
    }

    #[test]
    fn sticky_trusts_the_newest_generation_and_voids_same_generation_double_claims() {
        let members = [
            owning(Member::new("a", ["t"]), 5, &[("t", 0), ("t", 1)]),
            owning(Member::new("b", ["t"]), 4, &[("t", 1), ("t", 2)]),
            owning(Member::new("c", ["t"]), 5, &[("t", 2), ("t", 3), ("t", 0)]),
        ];
        let out = cooperative_sticky(&members, &counts(&[("t", 6)]));
        // t-0 is claimed by a and c in generation 5: nobody keeps it, and whoever gets
        // it waits. t-1 is a's (b's claim is older); t-2 and t-3 are c's.
        assert!(of(&out.assignment, "a").contains(&tp("t", 1)));
        assert!(of(&out.assignment, "c").contains(&tp("t", 2)));
        assert!(of(&out.assignment, "c").contains(&tp("t", 3)));
        assert!(out.withheld.contains_key(&tp("t", 0)));
        let balanced = out.balanced();
        let loads: Vec<usize> = balanced.values().map(Vec::len).collect();
        assert_eq!(loads, [2, 2, 2]);
    }

    #[test]
    fn sticky_with_different_subscriptions_balances_and_stays_sticky() {
        let members = [
            owning(
                Member::new("a", ["t1", "t2"]),
                2,
                &[("t1", 0), ("t1", 1), ("t2", 0), ("t2", 1)],
            ),
            owning(Member::new("b", ["t1"]), 2, &[]),
            owning(Member::new("c", ["t2"]), 2, &[]),
        ];
        let out = cooperative_sticky(&members, &counts(&[("t1", 2), ("t2", 2)]));
        let balanced = out.balanced();
        let loads: Vec<usize> = balanced.values().map(Vec::len).collect();
        assert_eq!(loads.iter().sum::<usize>(), 4);
        assert!(loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1);
        // Whatever "a" kept it owned; what it gave up is withheld from the new owner.
        for p in of(&out.assignment, "a") {
            assert!(members[0].owned_partitions.contains(p));
        }
        assert_eq!(
            out.withheld.len() + of(&out.assignment, "a").len(),
            4,
            "{out:?}"
        );
    }

    #[test]
    fn sticky_revokes_partitions_of_topics_a_member_left() {
        let members = [
            owning(Member::new("a", ["t2"]), 1, &[("t1", 0), ("t2", 0)]),
            owning(Member::new("b", ["t1", "t2"]), 1, &[("t2", 1)]),
        ];
        let out = cooperative_sticky(&members, &counts(&[("t1", 1), ("t2", 2)]));
        assert_eq!(of(&out.balanced(), "b"), [tp("t1", 0), tp("t2", 1)]);
        assert_eq!(
            out.withheld.get(&tp("t1", 0)).map(String::as_str),
            Some("b")
        );
        assert_eq!(of(&out.assignment, "a"), [tp("t2", 0)]);
    }

    #[test]
    fn degenerate_groups_get_empty_assignments() {
        let known = counts(&[("t", 2)]);
        for a in Assignor::ALL {
            assert!(a.assign(&[], &known).is_empty(), "{a}");
            let idle = [
                Member::new("x", ["missing"]),
                Member::new("y", Vec::<String>::new()),
            ];
            let out = a.assign(&idle, &known);
            assert_eq!(out.len(), 2, "{a}");
            assert!(out.values().all(Vec::is_empty), "{a}");
            // A duplicate id counts once.
            let twice = [Member::new("x", ["t"]), Member::new("x", ["t"])];
            assert_eq!(
                a.assign(&twice, &known)["x"],
                [tp("t", 0), tp("t", 1)],
                "{a}"
            );
        }
    }

    #[test]
    fn java_hash_set_order_is_reproduced() {
        // A Java HashSet given these four, in this order, iterates
        // [orders-7, orders-23, t-1, t-0] (kafka-clients 4.3.1, JDK 17).
        let mut set = JavaHashSet::new();
        for p in [tp("t", 0), tp("t", 1), tp("orders", 7), tp("orders", 23)] {
            set.insert(p);
        }
        assert_eq!(set.first(), Some(&tp("orders", 7)));
        set.items.retain(|x| x != &tp("orders", 7));
        assert_eq!(set.first(), Some(&tp("orders", 23)));
        set.items.retain(|x| x != &tp("orders", 23));
        assert_eq!(set.first(), Some(&tp("t", 1)));
    }

    #[test]
    fn protocol_selection_votes_among_protocols_every_member_lists() {
        let group = [
            vec!["cooperative-sticky", "range"],
            vec!["range", "cooperative-sticky"],
            vec!["cooperative-sticky", "range", "roundrobin"],
        ];
        assert_eq!(select_protocol(&group), Some("cooperative-sticky"));
        let group = [vec!["range"], vec!["roundrobin", "range"]];
        assert_eq!(select_protocol(&group), Some("range"));
        let group = [vec!["range"], vec!["roundrobin"]];
        assert_eq!(select_protocol(&group), None);
        // A tie: the first member's preference.
        let group = [vec!["roundrobin", "range"], vec!["range", "roundrobin"]];
        assert_eq!(select_protocol(&group), Some("roundrobin"));
        assert_eq!(select_protocol::<Vec<&str>, &str>(&[]), None);
    }
}
