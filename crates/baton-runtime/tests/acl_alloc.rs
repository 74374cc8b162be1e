//! ACL evaluation allocates nothing: the criteria of the benchmark's rules frontend are
//! evaluated against an indexed request head under a counting allocator. The negative control
//! (a `base` fetch and a `lower` converter, which build new strings) shows the counter counts.

use baton_config::acl::parse_criterion;
use baton_config::diag::Location;
use baton_config::rules::Criterion;
use baton_runtime::http::rules::criterion;
use baton_runtime::http::sample::{Exchange, Vars};
use baton_runtime::http::view::{HeadIndex, HeadView};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn compile(lines: &[&str]) -> Vec<Criterion> {
    let file: std::sync::Arc<str> = "bench.cfg".into();
    lines
        .iter()
        .map(|l| {
            let words: Vec<String> = l.split(' ').map(String::from).collect();
            parse_criterion(
                &words,
                &Location::new(&file, 1),
                &|_| Err("no files".into()),
            )
            .unwrap_or_else(|e| panic!("{l}: {e}"))
        })
        .collect()
}

/// Evaluates every criterion `rounds` times after a warm-up; returns how many matched per round
/// and the allocations made while doing it.
fn evaluate(criteria: &[Criterion], rounds: usize) -> (usize, usize) {
    let head = b"GET /static/app.js?v=3 HTTP/1.1\r\nHost: www.Example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\nX-Forwarded-For: 10.1.1.1, 10.2.2.2\r\nContent-Length: 0\r\n";
    let mut index = HeadIndex::default();
    index.index(head);
    let vars = Vars::default();
    let ex = Exchange {
        client: "192.168.7.9:40000".parse().unwrap(),
        local: Some("127.0.0.1:8080".parse().unwrap()),
        request: Some(HeadView {
            bytes: head,
            index: &index,
        }),
        response: None,
        vars: &vars,
        frontend: "fe_rules",
        backend: "",
        userlists: None,
    };
    // One warm-up round: the regex engine sets up its per-thread search cache on first use.
    criteria.iter().for_each(|c| {
        criterion(c, &ex);
    });
    let before = allocations();
    let mut matched = 0;
    for _ in 0..rounds {
        matched = criteria.iter().filter(|c| criterion(c, &ex)).count();
    }
    (matched, allocations() - before)
}

#[test]
fn acl_evaluation_does_not_allocate() {
    let criteria = compile(&[
        "path_beg /api /v1 /v2",
        "path_end .css .js .png",
        "path_reg ^/admin(/|$)",
        "hdr_beg(host) -i static. img. cdn.",
        "hdr_end(host) -i .internal",
        "hdr(x-route) -i blue green",
        "hdr_sub(user-agent) -i bot crawler",
        "url_sub -i secret token=",
        "method POST PUT DELETE",
        "src 10.0.0.0/8 192.168.0.0/16",
        "hdr_cnt(x-forwarded-for) gt 3",
        "path_dir docs wiki static",
        "hdr_dom(host) -i example",
        "dst_port 1:1023",
        "hdr(x-debug) -m found",
        "path_len gt 200",
        "url_beg /internal",
        "hdr_val(content-length) gt 1000000",
        "path /healthz /readyz",
        "path_beg /",
        "ssl_fc",
        "src_port 0:1023",
    ]);
    let (matched, allocs) = evaluate(&criteria, 1000);
    assert_eq!(
        matched, 5,
        "path_end, src, path_dir, hdr_dom and path_beg / match"
    );
    assert_eq!(
        allocs, 0,
        "ACL evaluation allocated {allocs} times in 1000 rounds"
    );
}

#[test]
fn the_counter_sees_allocations() {
    // Negative control: these build new strings on every evaluation.
    let criteria = compile(&["base -m beg www.", "hdr(host),lower -m str www.example.com"]);
    let (matched, allocs) = evaluate(&criteria, 10);
    assert_eq!(matched, 2);
    assert!(allocs >= 20, "only {allocs} allocations counted");
}
