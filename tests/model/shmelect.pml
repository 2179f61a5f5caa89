/*
 * shmelect.pml -- a Promela model of the shmelect lease protocol, for spin.
 * tests/model/check.sh runs it; shmelect(7), TESTING, describes it.
 *
 * Each step is one load, store or compare-and-swap of the C code, and its
 * comment names the function and line of lib/ it models (as of the commit
 * that last changed this file: keep the two in step).  A process's local
 * computation is merged into the shared-memory step next to it; where two
 * shared-memory accesses share one step, a comment says why no
 * interleaving that matters is lost.
 *
 *   lease word   LO = term * 8 + (holder slot + 1), HI = expiry; changed
 *                only together, by lease_cas (cmpxchg16b, one step), and
 *                read by lease_read as three separate loads lo, hi, lo,
 *                retried until both loads of lo agree
 *   clock        a global tick counter up to MAXCLK; it may advance by any
 *                amount between any two steps (see CLOCK_READ)
 *   members      elector threads of members 1 and 2, each doing any
 *                operation of its menu (MENU1, MENU2) at any time, any
 *                number of times; members 1..READERS also have an
 *                application thread calling is_leader concurrently; with
 *                JOIN, one more member joins late, claiming a slot FREE ->
 *                CLAIMING -> ACTIVE once one is free (left or reaped), and
 *                reaping dead members' slots itself when none is (ENOSPC);
 *                a member that leaves moves its slot ACTIVE -> LEAVING,
 *                ends every term naming it, then frees it
 *   SIGKILL      up to MAXKILL members stop for good at any step, all their
 *                threads at once (`unless dead[m]`); the kernel sets
 *                OWNER_DIED in the robust mutex of the member's life thread
 *                and the pid disappears
 *   SIGSTOP      a paused process is one that is not scheduled: spin tries
 *                every interleaving, and the clock advances meanwhile
 *   shmelectd    a daemon that reaps dead members' slots (break their
 *                lease, LEAVING, end terms naming the slot, free it), and
 *                carries out up to MAXOP operator requests: evict, forced
 *                handover (a transfer: the slot's handoff word, then the
 *                lease CAS, then a re-check of the target's owner word)
 *
 * Properties (assertions; the invariants of DESIGN.md):
 *
 *   P1 no overlap   A report tells a member that it leads term T at clock
 *                   value c: is_leader returning 1 (c: its clock read),
 *                   renew or try_acquire returning 1 (c: the clock value
 *                   they read before deciding).  For any two reports (T1,
 *                   c1), (T2, c2) with T1 < T2, made in either order:
 *                   c1 <= c2, and c1 < c2 if T2 was made by taking over an
 *                   expired lease of T1 (c1 < expiry <= c2).  Otherwise a
 *                   tie is allowed: a resignation and the next acquisition
 *                   can fall within one tick (one nanosecond in C).
 *   P1 truth        is_leader returns 1 only if, at the instant it read the
 *                   clock, the lease word still named its term.
 *   P2 one leader   all reports of a term come from one member: a member
 *      per term     never inherits another's token.
 *   P2 tokens       every CAS writes the same term, or term + 1 with a
 *                   holder; the fence accepts only a token at least as
 *                   high as every token it accepted before.
 *   no ABA          every CAS that changes lo moves it strictly forward in
 *                   the order (T, held) < (T, vacant) < (T+1, held), so lo
 *                   never returns to a value it left; while lo is
 *                   unchanged no CAS lowers hi.
 *   P5 stale        no break but an operator's evict ends the term of a
 *      writers      live member: not one made because a member died (by a
 *                   reaper, or a follower that saw OWNER_DIED), nor one
 *                   ending a term handed to a member that left (transfer
 *                   undo, slot_free_recheck, a refused handoff); and a
 *                   member adopts only a term that was handed to it, never
 *                   one handed to its slot's previous member.
 *
 * Findings: F1 (a handover to a member that is leaving, or being reaped,
 * left the lease naming a free slot), F2 (the fix of F1 re-checked the
 * lease after freeing the slot, and could end its next member's term) and
 * F1' (a transfer paused after loading the target's owner word could land
 * after the slot had a new member, which adopted it) were found by this
 * model and fixed in lib/ (commits 1a369f7, faf1b10).
 *
 * Planted bugs, each of which must make a configuration fail (check.sh
 * --bugs): BUG_RENEW_NO_CAS (renew checks lo, then stores hi plainly),
 * BUG_REAP_NO_BREAK (the reaper frees a dead member's slot without
 * ending the terms naming it; fails together with BUG_NO_HANDOFF, since
 * alone the next member refuses the dead member's term), BUG_FREE_FIRST
 * (leave and reap free the slot, then end terms naming it: F2),
 * BUG_NO_HANDOFF (adopt any term naming our slot: F1'), BUG_CLOCK_BEFORE_LOAD (is_leader reads the clock
 * before loading the lease), BUG_NO_RELOAD (is_leader does not load lo
 * again after its clock read; lib/ before 6532a97), BUG_REAP_NO_RECHECK
 * (the reaper does not load the owner word again after reading the lease;
 * lib/ before 6532a97).  NO_TRUTH switches the P1 truth assertion off, to
 * show that the clock comparison of P1 catches the same bugs.
 */

/* ---- parameters ------------------------------------------------------------ */

/* operation menus: which operations each elector thread may do */
#define OP_TRY          1       /* shmelect_candidate_try_acquire */
#define OP_RENEW        2       /* shmelect_candidate_renew */
#define OP_RESIGN       4       /* shmelect_candidate_resign */
#define OP_LEADER       8       /* shmelect_candidate_is_leader (+ the fence) */
#define OP_HANDOVER     16      /* the elector's leader_handover: lease_transfer */
#define OP_FOLLOW       32      /* follower_sleep: break a dead holder's term */
#define OP_LEAVE        64      /* shmelect_candidate_leave */
/* what the daemon does */
#define D_REAP          1       /* shmelect_election_reap */
#define D_EVICT         2       /* shmelect_election_evict */
#define D_FORCE         4       /* shmelect_election_handover(FORCE) */

/*
 * Configurations.  The whole protocol with every process doing everything
 * has far more states than can be searched in minutes, so check.sh checks
 * several configurations, each exhaustively: each puts two members (and
 * an application thread, a daemon, a killer, a joiner) to one kind of
 * interplay.  -DCFG_<NAME> picks one; without one, the parameters below
 * can be given one by one with -D.  MENU1/MENU2: member 1's and member
 * 2's operations, MENUJ the joiner's; READERS: members 1..READERS have an
 * application thread; MAXCLK: the clock's last value; MAXTERM: the
 * highest term (LEASE_TERM_MAX); the rest below.
 */
#if defined(CFG_TAKEOVER)       /* take-over at expiry vs renew, a concurrent is_leader, the fence */
#define MENU1   (OP_TRY | OP_RENEW)
#define MENU2   (OP_TRY | OP_RENEW | OP_LEADER)
#define READERS 1
#define FENCE   1
#define MAXCLK  3
#define MAXTERM 3
#elif defined(CFG_RESIGN)       /* resign vs renew and a concurrent is_leader */
#define MENU1   (OP_TRY | OP_RENEW | OP_RESIGN)
#define MENU2   0
#define READERS 1
#define MAXCLK  3
#define MAXTERM 2
#elif defined(CFG_HANDOVER)     /* the elector's handover vs renew and is_leader; adoption */
#define MENU1   (OP_TRY | OP_RENEW | OP_HANDOVER)
#define MENU2   (OP_TRY | OP_LEADER)
#define READERS 1
#define MAXCLK  2
#define MAXTERM 2
#elif defined(CFG_OPERATOR)     /* an operator's evict or forced handover vs a concurrent is_leader */
#define MENU1   (OP_TRY)
#define MENU2   0
#define READERS 1
#define DAEMON  (D_EVICT | D_FORCE)
#define MAXOP   1
#define MAXCLK  3
#define MAXTERM 2
#elif defined(CFG_OPERATOR2)    /* ... vs two members renewing, taking over, adopting */
#define MENU1   (OP_TRY | OP_RENEW)
#define MENU2   (OP_TRY | OP_LEADER)
#define READERS 0
#define DAEMON  (D_EVICT | D_FORCE)
#define MAXOP   1
#define MAXCLK  2
#define MAXTERM 2
#elif defined(CFG_REAP)         /* a crash, reaping by the daemon and the joiner, slot reuse */
#define MENU1   (OP_TRY)
#define MENU2   0
#define MENUJ   (OP_TRY | OP_LEADER)
#define READERS 0
#define JOIN    1
#define DAEMON  D_REAP
#define MAXKILL 1
#define KILLABLE (2 | 8)        /* member 1, or the joiner (even while it claims) */
#define MAXCLK  2
#define MAXTERM 2
#elif defined(CFG_FOLLOW)       /* a crash noticed by a follower (robust mutex) and the daemon */
#define MENU1   (OP_TRY)
#define MENU2   (OP_TRY | OP_FOLLOW | OP_LEADER)
#define READERS 0
#define DAEMON  D_REAP
#define MAXKILL 1
#define KILLABLE 2
#define DELAY   1               /* and a lock delay after the unclean loss */
#define MAXCLK  2
#define MAXTERM 2
#elif defined(CFG_LEAVE)        /* leave, slot reuse by a joiner that may die while claiming */
#define MENU1   (OP_TRY | OP_LEAVE)
#define MENU2   (OP_TRY | OP_LEADER)
#define MENUJ   (OP_TRY | OP_LEADER)
#define READERS 0
#define JOIN    1
#define DAEMON  D_REAP
#define MAXKILL 1
#define KILLABLE 8              /* the joiner */
#define MAXCLK  2
#define MAXTERM 2
#elif defined(CFG_LEAVE_HANDOVER)       /* handover to a member that is leaving (F1, F1', F2) */
#define MENU1   (OP_TRY | OP_LEAVE)
#define MENU2   (OP_TRY | OP_HANDOVER)
#define MENUJ   (OP_TRY | OP_LEADER)
#define READERS 0
#define JOIN    1
#define MAXCLK  3
#define MAXTERM 2
#elif defined(CFG_REAP_HANDOVER)        /* handover to a dead member being reaped (F1, F1', F2) */
#define MENU1   0
#define MENU2   (OP_TRY | OP_HANDOVER)
#define MENUJ   (OP_TRY)
#define READERS 0
#define JOIN    1               /* the joiner reaps (ENOSPC): no daemon */
#define MAXKILL 1
#define KILLABLE 2
#define MAXCLK  2
#define MAXTERM 2
#endif

#ifndef NSLOT
#define NSLOT 2         /* slots; members 1..NSLOT start in them (2 or 3) */
#endif
#ifndef LEASE
#define LEASE 2         /* lease duration of every member, ticks */
#endif
#ifndef DELAY
#define DELAY 0         /* lock delay of every member, ticks */
#endif
#ifndef MAXCLK
#define MAXCLK 3        /* the clock stops here */
#endif
#ifndef MAXTERM
#define MAXTERM 2       /* = LEASE_TERM_MAX: acquiring a term above fails (EOVERFLOW) */
#endif
#ifndef MAXKILL
#define MAXKILL 0       /* SIGKILLs */
#endif
#ifndef KILLABLE
#define KILLABLE 255    /* bit m: member m may be killed */
#endif
#ifndef MAXOP
#define MAXOP 0         /* operator requests (evict, forced handover) */
#endif
#ifndef READERS
#define READERS 0       /* members 1..READERS have an application thread */
#endif
#ifndef JOIN
#define JOIN 0          /* 1: one more member joins once a slot is free */
#endif
#ifndef FENCE
#define FENCE 0         /* 1: leaders hand their token to the fence */
#endif
#ifndef MENU1
#define MENU1 (OP_TRY | OP_RENEW)
#endif
#ifndef MENU2
#define MENU2 (OP_TRY | OP_LEADER)
#endif
#ifndef MENU3
#define MENU3 (OP_TRY | OP_LEADER)
#endif
#ifndef MENUJ
#define MENUJ (OP_TRY | OP_LEADER)
#endif
#ifndef DAEMON
#define DAEMON 0
#endif
/* The planted bugs and switches, as constants: code inside an inline
 * keeps its line numbers, which check.sh uses to name a failed property. */
#ifdef BUG_REAP_NO_BREAK
#define REAP_NO_BREAK   1
#else
#define REAP_NO_BREAK   0
#endif
#ifdef BUG_REAP_NO_RECHECK
#define REAP_NO_RECHECK 1
#else
#define REAP_NO_RECHECK 0
#endif
#ifdef BUG_CLOCK_BEFORE_LOAD
#define EARLY_CLOCK     1
#else
#define EARLY_CLOCK     0
#endif
#ifdef BUG_NO_RELOAD
#define RELOADED        1               /* (bug) lo not loaded again */
#else
#define RELOADED        (LO == l)
#endif
#ifdef NO_TRUTH
#undef NO_TRUTH
#define NO_TRUTH        1
#else
#define NO_TRUTH        0
#endif
#ifdef BUG_NO_HANDOFF
#define NO_HANDOFF      1               /* (bug) adopt without the handoff check */
#else
#define NO_HANDOFF      0
#endif
#ifdef BUG_FREE_FIRST
#define FREE_FIRST      1               /* (bug) free the slot, then end terms naming it */
#else
#define FREE_FIRST      0
#endif

/*
 * Witnesses: with PML_WITNESS=n in its environment, pan treats event n as
 * an assertion violation, so that a search shows that the event happens
 * at all: the checks are not vacuous.  check.sh runs, for each
 * configuration, the witnesses of what it is meant to exercise.
 */
#define W_TAKEOVER      1       /* a take-over of an expired lease */
#define W_READER        2       /* the application thread is told it leads */
#define W_INFLIGHT      3       /* is_leader's last load saw lo change: returns 0 */
#define W_STALE         4       /* a report of a term after a newer one began */
#define W_FOLLOW        5       /* a follower ended a dead holder's term */
#define W_REAPBREAK     6       /* a reaper ended a dead holder's term */
#define W_REUSE         7       /* the joiner, in a reused slot, is told it leads */
#define W_ADOPT         8       /* a transferred term adopted */
#define W_RELEASE       9       /* leave ended a term handed to it (LEAVING) */
#define W_EVICT         10      /* an operator's evict ended a term */
#define W_FENCE         11      /* the fence refused an older token */
#define W_EARLY         12      /* a term ended early (resign, evict, transfer) */
#define W_CLAIMREAP     13      /* a slot left CLAIMING by a dead joiner reaped */
#define W_UNDO          14      /* a transfer ended the term it made: target left */
#define W_FREED         15      /* a reaper ended a term handed to a dead member (LEAVING) */
#define W_STALE_XFER    16      /* a member refused a term handed to its slot's predecessor */
#define W_LEAVEREAP     17      /* a reaper found a slot LEAVING, its member dead */

#define witness(n)      assert(wsel != (n))

#define JOINER  (NSLOT + 1)             /* member id of the late joiner */
#define NMEM    (NSLOT + 1)             /* member ids 1..NMEM */
#if JOIN
#define NKILL   NMEM                    /* members that can be killed */
#else
#define NKILL   NSLOT
#endif
#define MENU(m) ((m) == 1 -> MENU1 : ((m) == 2 -> MENU2 : ((m) == JOINER -> MENUJ : MENU3)))
#define CAN(o)  ((MENU(m) & (o)) != 0)

/* lo = term << 12 | holder + 1 (layout.h:79, :83-88), here term * 8 + holder */
#define TERM(lo)        ((lo) >> 3)
#define HOLDER(lo)      ((lo) & 7)
#define MKLO(t, h)      ((t) * 8 + (h))
/* position of lo in the history: (T, slot) < (T, vacant) < (T+1, slot) */
#define KEY(lo)         (TERM(lo) * 2 + (HOLDER(lo) == 0))

/* slot owner word (layout.h:90-107); the member id stands for pid + generation */
#define FREE            0
#define CLAIMING        1
#define ACTIVE          2
#define LEAVING         3
#define OWNER(m, st)    ((m) * 4 + (st))
#define STATE(w)        ((w) & 3)
#define MEMBER(w)       ((w) >> 2)
#define ANYFREE         (owner[0] == FREE || owner[NSLOT - 1] == FREE || \
			 (NSLOT > 2 && owner[1] == FREE))
#define GONE(x)         (owner[x] != FREE && gone[MEMBER(owner[x])])
#define REAPABLE        (GONE(0) || GONE(NSLOT - 1) || (NSLOT > 2 && GONE(1)))
#define ANYDIED         ((life[0] | life[NSLOT - 1] | (NSLOT > 2 -> life[1] : 0)) & DIED)

/* why lease_break is called */
#define K_EVICT         0
#define K_DEATH         1
#define K_UNDO          2
#define K_FREED         3
#define K_STALE         4
/* the holder's lock-delay applies to breaks for an eviction or a death */
#define BREAK_DELAY(k)  ((k) <= K_DEATH -> DELAY : 0)

/* robust mutex word (wait.c:137-142): 0 unlocked, m locked by member m's
 * life thread, m | DIED once the kernel found m dead (FUTEX_OWNER_DIED) */
#define DIED            8

/* ---- shared memory ----------------------------------------------------------- */
byte LO, HI;                    /* struct lease (layout.h:78-81) */
byte clk;                       /* CLOCK_MONOTONIC */
byte owner[NSLOT];              /* shm_slot.owner */
byte hterm[NSLOT];              /* shm_slot.handoff.term */
byte hmem[NSLOT];               /* shm_slot.handoff.gen: here the member id */
byte life[NSLOT];               /* shm_slot.life.mutex, its futex word */
byte fence;                     /* shm_election.fence */
byte cterm[NMEM + 1];           /* shmelect_candidate.term: shared by a member's threads */

/* ---- the environment --------------------------------------------------------- */
bit dead[NMEM + 1];             /* SIGKILLed: no thread of it runs again */
bit gone[NMEM + 1];             /* its pid is gone: pid_alive() is false */
bit left[NMEM + 1];             /* returned from shmelect_candidate_leave */
byte kills;                     /* members killed so far */

/* ---- ghost state of the properties --------------------------------------------- */
byte cmax;                      /* 1 + highest clock value reported for TERM(LO) while current */
byte start[MAXTERM + 1];        /* 1 + clock value read by the CAS that made a term */
byte floor[MAXTERM + 1];        /* 1 + lowest clock value a report of a term may have */
bit tk[MAXTERM + 1];            /* that CAS took over an expired lease */
byte tmember[MAXTERM + 1];      /* the member that reported a term */
byte xto[MAXTERM + 1];          /* the member a transferred term was handed to */
byte fence_max;                 /* highest token the fence accepted */
byte wsel;                      /* the witness asked for (constant) */

/*
 * The clock.  Time is observed only by clock reads, so a tick commutes
 * with every step that does not read the clock, and moving each tick to
 * just before the next clock read changes no value that any process sees.
 * So a clock read first lets the clock advance by any amount (up to
 * MAXCLK) and then reads it, in one step: a process paused between any two
 * steps finds at its next read all the time that passed meanwhile, and
 * other processes' reads see it too.  -DCLOCK_PROCESS instead runs a
 * process that ticks at any moment: the same behaviours, many more states.
 */
#ifdef CLOCK_PROCESS
#define CLOCK_READ(v)           v = clk
#define CLOCK_READ_AT(v, at, x) d_step { v = clk; at = x }
#else
#define CLOCK_READ(v) \
	atomic { do :: clk < MAXCLK -> clk++ :: break od; v = clk }
#define CLOCK_READ_AT(v, at, x) \
	atomic { do :: clk < MAXCLK -> clk++ :: break od; v = clk; at = x }
#endif

/*
 * P1 bookkeeping, without remembering every report.  Reports of the
 * current term raise cmax.  The CAS that makes the next term compares cmax
 * with its clock value, which becomes that term's start; every later
 * report of the new term must be at least its floor (its start, or for a
 * transferred term the highest report of the old one: a transfer does not
 * wait for the old term's reports, the adopter's report must).  A report
 * of a term that is no longer current must be at most the start of the
 * next term (strictly below it if that was a take-over).  Starts never
 * decrease.  So for terms T1 < T2, every report of T1 is at most
 * floor(T1 + 1) <= ... <= floor(T2) <= every report of T2: P1, with the
 * strict inequality across a take-over.
 */

/* Member m is told that it leads term t at clock value c (P1, P2).  Runs
 * at the instant of the report (the CAS or the last load). */
inline report(m, t, c)
{
	assert(tmember[t] == 0 || tmember[t] == m);     /* P2: one member per term */
	tmember[t] = m;
	assert(floor[t] <= c + 1);                      /* P1: before the term's floor */
	if
	:: t == TERM(LO) ->                             /* current (held or vacated) */
		if
		:: cmax < c + 1 -> cmax = c + 1
		:: else
		fi
	:: else ->                                      /* a newer term exists */
		/* not after the next term began (before, if it took over) */
		assert(c + 1 + tk[t + 1] <= start[t + 1]);  /* P1: stale report */
		witness(W_STALE)
	fi;
	if
	:: m == JOINER -> witness(W_REUSE)
	:: else
	fi
}

/* The CAS that makes term nt at clock value c; tko: by taking over an
 * expired lease; xfer: by a transfer. */
inline newterm(nt, c, tko, xfer)
{
	assert(start[nt - 1] <= (c) + 1);               /* P1: starts never decrease */
	assert((xfer) || cmax + (tko) <= (c) + 1);      /* P1: new term before old reports */
	start[nt] = (c) + 1;
	if
	:: (xfer) && cmax > (c) + 1 -> floor[nt] = cmax
	:: else -> floor[nt] = (c) + 1
	fi;
	if
	:: floor[nt] < floor[nt - 1] -> floor[nt] = floor[nt - 1]
	:: else
	fi;
	tk[nt] = (tko);
	cmax = 0
}

/* A lease-word transition from (ol, oh) to (nl, nh) (P2 tokens, no ABA). */
inline transition(ol, oh, nl, nh)
{
	assert(TERM(nl) == TERM(ol) || (TERM(nl) == TERM(ol) + 1 && HOLDER(nl) != 0)); /* P2: tokens */
	if
	:: nl == ol -> assert(nh >= oh)                 /* no ABA: hi lowered */
	:: else -> assert(KEY(nl) > KEY(ol))            /* no ABA: lo went back */
	fi
}

/* lease_read (internal.h:146-158): lo, hi, lo again, until both agree. */
inline lease_read(rl, rh)
{
	do
	:: rl = LO;                                     /* internal.h:152 */
		rh = HI;                                /* internal.h:153 */
		if                                      /* internal.h:154-156 */
		:: LO == rl -> break
		:: else
		fi
	od
}

/* lease_cas (internal.h:196-199): one cmpxchg16b, a full barrier. */
inline lease_cas(el, eh, nl, nh, res)
{
	d_step {
		if
		:: LO == el && HI == eh ->
			transition(el, eh, nl, nh);
			LO = nl;
			HI = nh;
			res = 1
		:: else ->
			res = 0
		fi
	}
}

/*
 * lease_break(e, exp, lock_delay) (election.c:365-386): end the current
 * term without a successor; exp != 0: only that exact lo.  kind: why --
 *   K_EVICT   an operator's evict (may end a live member's term: its purpose)
 *   K_DEATH   a reaper or a follower, for a member that died
 *   K_UNDO    lease_transfer ending the term it just made (its target left)
 *   K_FREED   slot_free_recheck, for a LEAVING slot
 *   K_STALE   try_acquire, for a term handed to its slot's previous member
 * the first two with the holder's lock-delay, the rest without.  Only an
 * eviction may end the term of a live member (P5).  Sets br (1 broken, 0
 * not); leaves l, h, now clobbered.
 */
inline lease_break(exp, kind)
{
	br = 2;
	do
	:: br != 2 -> break
	:: else ->
		lease_read(l, h);                       /* election.c:368 */
		if
		:: HOLDER(l) == 0 || (exp != 0 && l != exp) ->  /* election.c:372-373 */
			br = 0
		:: else ->
			CLOCK_READ(now);                /* election.c:376-379 delay, clock */
			d_step {                        /* election.c:381 lease_cas */
				if
				:: LO == l && HI == h ->
					transition(l, h, MKLO(TERM(l), 0), now + BREAK_DELAY(kind));
					assert((kind) == K_EVICT || tmember[TERM(l)] == 0 || dead[tmember[TERM(l)]]); /* P5: live term broken */
					LO = MKLO(TERM(l), 0);
					HI = now + BREAK_DELAY(kind);
					br = 1;
					if
					:: (kind) == K_EVICT -> witness(W_EARLY)
					:: (kind) == K_UNDO -> witness(W_UNDO)
					:: (kind) == K_STALE -> witness(W_STALE_XFER)
					:: else
					fi
				:: else
				fi
			}
		fi
	od;
	l = 0; h = 0; now = 0
}

/*
 * lease_transfer(e, tx, ow, exp) (election.c:413-445): give the lease to
 * slot tx as a new term; the target adopts it at its next try_acquire.
 * ow: the owner word the caller looked up (0: any), exp: a variable, the lo
 * expected or 0; clobbered.  The handoff word gets the term and the
 * target's generation before the lease CAS.  The owner word is loaded
 * before and after the CAS; if it changed, the target left (or was
 * reaped) meanwhile and the term just made is ended again.
 */
inline lease_transfer(tx, exp, ow)
{
	w = owner[tx];                                  /* election.c:417 */
	if
	:: STATE(w) != ACTIVE || (ow != 0 && w != ow) -> br = 0 /* election.c:419-420 ESRCH */
	:: else -> br = 2
	fi;
	do
	:: br != 2 -> break
	:: else ->
		lease_read(l, h);                       /* election.c:422 */
		if
		:: exp != 0 && l != exp -> br = 0       /* election.c:425-426 */
		:: else ->
			if
			:: HOLDER(l) == tx + 1 -> br = 0                /* election.c:427-428 */
			:: else ->
				if
				:: TERM(l) >= MAXTERM -> br = 0         /* election.c:429-430 EOVERFLOW */
				:: else ->
					d_step {                /* election.c:436 handoff_store */
						hterm[tx] = TERM(l) + 1;
						hmem[tx] = MEMBER(w)
					};
					CLOCK_READ(now);        /* election.c:437 */
					d_step {                /* election.c:438 lease_cas */
						if
						:: LO == l && HI == h ->
							transition(l, h, MKLO(TERM(l) + 1, tx + 1), now + LEASE);
							newterm(TERM(l) + 1, now, 0, 1);
							xto[TERM(l) + 1] = MEMBER(w);
							if
							:: HOLDER(l) != 0 -> witness(W_EARLY)
							:: else
							fi;
							LO = MKLO(TERM(l) + 1, tx + 1);
							HI = now + LEASE;
							exp = MKLO(TERM(l) + 1, tx + 1);
							br = 1
						:: else             /* failed: read again */
						fi
					}
				fi
			fi
		fi
	od;
	l = 0; h = 0; now = 0;
	if
	:: br == 1 && owner[tx] != w ->                 /* election.c:439-440 */
		lease_break(exp, K_UNDO)
	:: else
	fi;
	w = 0
}

/*
 * slot_free_recheck(e, fs, lw) (candidate.c:182-198): slot fs is LEAVING
 * (owner word lw): end every term that names it, while it still is lw.
 * wit: the witness of a term ended.  With BUG_FREE_FIRST (the code before
 * faf1b10) it runs after the free and without the owner check.
 */
inline free_recheck(fs, lw, wit)
{
	do
	::	lease_read(l, h);                       /* candidate.c:188 */
		if
		:: HOLDER(l) != fs + 1 -> break         /* candidate.c:189-190 */
		:: else ->
			if
			:: !FREE_FIRST && owner[fs] != lw -> break      /* candidate.c:193-194 */
			:: else ->
				e = l;
				lease_break(e, K_FREED);        /* candidate.c:195 */
				e = 0;
				if
				:: br == 1 -> witness(wit)
				:: else
				fi
			fi
		fi
	od;
	l = 0; h = 0; br = 0
}

/*
 * slot_reap_if_dead(e, ri) (candidate.c:68-123): if the member of slot ri
 * is provably dead: a CLAIMING slot is freed at once; an ACTIVE one has
 * its member's term broken, becomes LEAVING, has every term naming it
 * ended, and is freed; a LEAVING one (its member, or a reaper, died half
 * way) the last two.  Loading the owner word (:71) and judging its member
 * dead (:78 claimer_dead, :83-86 pid_alive) are one step: C reads the pid
 * from the slot, which a newer member may own by then; the model asks
 * about the member of the word it loaded, which only adds behaviours (the
 * re-checks and the CASes still see the newer member).
 */
inline reap(ri)
{
	w = owner[ri];                                  /* candidate.c:71-90 */
	if
	:: STATE(w) != FREE && gone[MEMBER(w)] ->
		ok = 1;
		if
		:: STATE(w) == LEAVING -> witness(W_LEAVEREAP)
		:: else
		fi;
		do
		:: STATE(w) != ACTIVE || REAP_NO_BREAK -> break /* (bug) no break at all */
		:: else ->
			lease_read(l, h);               /* candidate.c:94 */
			if
			:: !REAP_NO_RECHECK && owner[ri] != w ->        /* candidate.c:103-104 */
				ok = 0;
				break
			:: else
			fi;
			if
			:: HOLDER(l) != ri + 1 -> break         /* candidate.c:105-106 */
			:: else ->
				e = l;
				lease_break(e, K_DEATH);        /* candidate.c:108 */
				e = 0;
				if
				:: br != 0 ->           /* candidate.c:108-109 */
					witness(W_REAPBREAK);
					break
				:: else
				fi
			fi
		od;
		if
		:: ok && STATE(w) == ACTIVE && !FREE_FIRST ->
			d_step {                        /* candidate.c:111-115 ACTIVE -> LEAVING */
				if
				:: owner[ri] == w ->
					owner[ri] = OWNER(MEMBER(w), LEAVING);
					w = owner[ri]
				:: else ->
					ok = 0
				fi
			}
		:: else
		fi;
		if
		:: ok && STATE(w) == LEAVING && !REAP_NO_BREAK ->
			free_recheck(ri, w, W_FREED)    /* candidate.c:118 */
		:: else
		fi;
		if
		:: ok ->
			d_step {                        /* candidate.c:122, :201-213 slot_free */
				if
				:: owner[ri] == w ->
					if
					:: STATE(w) == CLAIMING -> witness(W_CLAIMREAP)
					:: else
					fi;
					owner[ri] = 0
				:: else ->
					ok = 0
				fi
			};
			if
			:: ok && FREE_FIRST && STATE(w) == ACTIVE -> free_recheck(ri, 0, W_FREED)
			:: else
			fi
		:: else
		fi
	:: else
	fi;
	w = 0; l = 0; h = 0; ok = 0; br = 0
}

/*
 * shmelect_candidate_leadership (lease.c:241-267, cand_leadership) for
 * member m in slot s; r = 1 if it reports term t.  The ghost `atclk`:
 * whether lo still named the term at the clock read.
 */
inline is_leader(m, s)
{
	r = 0;
	if
	:: EARLY_CLOCK -> CLOCK_READ_AT(now, atclk, LO) /* (bug) the clock first */
	:: else
	fi;
	/* lease.c:251-255: c->term, then lo, one step.  C's elector writes
	 * lo (CAS) and then c->term, which the model merges; a load between
	 * the two writes pairs an old c->term with the new lo, which never
	 * match: is_leader returns 0, as it may anyway, so no behaviour that
	 * reports is lost. */
	d_step { t = cterm[m]; l = LO };                /* lease.c:251, :255 */
	if
	:: t != 0 && l == MKLO(t, s + 1) ->             /* lease.c:252-257 */
		/* lease.c:258: hi, loaded once.  Unlike lease_read there is
		 * no second lo load before the clock: the reload after it
		 * (load_after) is what pairs hi with lo. */
		h = HI;
		if
		:: !EARLY_CLOCK -> CLOCK_READ_AT(now, atclk, LO == l)   /* lease.c:259 */
		:: else
		fi;
		d_step {                                /* lease.c:260 load_after: lo again */
			if
			:: now < h && RELOADED ->
				assert(NO_TRUTH || atclk == (EARLY_CLOCK -> l : 1));    /* P1: truth */
				report(m, t, now);
				r = 1
			:: now < h && !RELOADED ->
				witness(W_INFLIGHT)
			:: else
			fi
		}
	:: else
	fi;
	if
	:: !r -> t = 0
	:: else
	fi;
	l = 0; h = 0; now = 0; atclk = 0
}

/* shmelect_fence_check(f, t) (fence.c:16-36). */
inline fence_check(tok)
{
	d_step {                                        /* fence.c:22-27 */
		x = fence;
		if
		:: tok == x ->
			assert(tok >= fence_max);       /* P2: fence */
			x = 255
		:: tok < x ->
			witness(W_FENCE);
			x = 255
		:: else
		fi
	};
	do
	:: x == 255 -> break
	:: else ->
		d_step {                                /* fence.c:31-33 CAS */
			if
			:: fence == x ->
				fence = tok;
				assert(tok >= fence_max);       /* P2: fence */
				fence_max = tok;
				x = 255
			:: else ->              /* fence.c:31-32 (seen updated), then :24-27 again */
				x = fence;
				if
				:: tok == x ->
					assert(tok >= fence_max);       /* P2: fence */
					x = 255
				:: tok < x ->
					witness(W_FENCE);
					x = 255
				:: else
				fi
			fi
		}
	od;
	x = 0
}

/* shmelect_candidate_resign (lease.c:191-215) for member m in slot s. */
inline resign(m, s)
{
	r = 2;
	do
	:: cterm[m] == 0 || r != 2 -> break             /* lease.c:199-200 */
	:: else ->
		lease_read(l, h);                       /* lease.c:203 */
		if
		:: l != MKLO(cterm[m], s + 1) -> r = 0  /* lease.c:205-206 */
		:: else ->
			CLOCK_READ(now);                /* lease.c:209 */
			lease_cas(l, h, MKLO(cterm[m], 0), now, ok);    /* lease.c:210 */
			if
			:: ok ->
				witness(W_EARLY);
				r = 1
			:: else
			fi
		fi
	od;
	l = 0; h = 0; now = 0; r = 0; ok = 0
}

/*
 * A member: its elector thread.  Members 1..NSLOT start ACTIVE in slot
 * m - 1; the late joiner (m == JOINER) claims a slot first.
 */
proctype member(byte m; byte s0)
{
	byte s = s0;
	byte l, h, now, e, r, br, ok, t, x, w, ow, atclk;

	{
	if
	:: m == JOINER ->
		/* shmelect_candidate_join (candidate.c:304-391) */
end_join:
		do
		:: ANYFREE || REAPABLE ->
			atomic {                        /* candidate.c:247-257: the scan, */
				x = 0;                  /* then CAS FREE -> CLAIMING on a */
				do                      /* slot it saw FREE */
				:: x < NSLOT && owner[x] == FREE -> break
				:: x < NSLOT -> x++
				:: x >= NSLOT -> break
				od;
				if
				:: x < NSLOT ->
					owner[x] = OWNER(m, CLAIMING);
					s = x
				:: else
				fi
			};
			if
			:: x < NSLOT ->
				/* candidate.c:279 slot_mutex_init, :284 life_start:
				 * the life thread locks the fresh mutex (one step: a
				 * follower that loads the word in between sees it
				 * unlocked, and watches nothing) */
				life[s] = m;
				d_step {                /* candidate.c:293-294 CLAIMING -> ACTIVE */
					if
					:: owner[s] == OWNER(m, CLAIMING) ->
						owner[s] = OWNER(m, ACTIVE);
						ok = 1
					:: else ->
						ok = 0
					fi
				};
				if
				:: ok -> break
				:: else -> life[s] = 0  /* candidate.c:295 life_stop */
				fi
			:: else ->
				/* -ENOSPC: reclaim dead members' slots (candidate.c:354-362) */
				x = 0;
				do
				:: x < NSLOT -> reap(x); x++
				:: else -> break
				od
			fi;
			x = 0; ok = 0
		od;
		x = 0; ok = 0
	:: else
	fi;

end:	do
	:: CAN(OP_TRY) ->
		/* shmelect_candidate_try_acquire (lease.c:69-161) */
		r = 2;
		do
		:: r != 2 -> break
		:: else ->
			/* lease.c:77-78 cand_evicted: only a reaper frees our
			 * slot, and only once we are dead, so it is ours */
			lease_read(l, h);                       /* lease.c:82 */
			CLOCK_READ(now);                        /* lease.c:83 */
			if
			:: HOLDER(l) == s + 1 && TERM(l) != 0 ->    /* lease.c:90: ours */
				if
				:: now + LEASE <= h && now < h && TERM(l) == cterm[m] ->
					d_step {                /* lease.c:112-117 held, lo again */
						if
						:: LO == l ->
							report(m, TERM(l), now);
							r = 1
						:: else
						fi
					}
				:: else ->
					/* a term we did not make: ours only if the
					 * handoff names it and us (lease.c:105) */
					if
					:: TERM(l) != cterm[m] ->
						d_step { ok = NO_HANDOFF || (hterm[s] == TERM(l) && hmem[s] == m) }
					:: else -> ok = 1
					fi;
					if
					:: !ok ->
						e = l;
						lease_break(e, K_STALE);        /* lease.c:106 */
						e = 0; br = 0
					:: else ->
					d_step {                /* lease.c:120 lease_cas; :122-127 adopt */
						if
						:: LO == l && HI == h ->
							transition(l, h, l, now + LEASE);
							HI = now + LEASE;
							if
							:: TERM(l) != cterm[m] ->
								assert(xto[TERM(l)] == m);      /* P5: handed to another member */
								witness(W_ADOPT)
							:: else
							fi;
							cterm[m] = TERM(l);
							report(m, TERM(l), now);
							r = 1
						:: else
						fi
					}
					fi;
					ok = 0
				fi
			:: else ->
				if
				:: HOLDER(l) != 0 && now < h + DELAY -> r = 0   /* lease.c:130-137 */
				:: HOLDER(l) == 0 && now < h -> r = 0           /* lease.c:138-139 */
				:: else ->
					if
					:: TERM(l) >= MAXTERM -> r = 0          /* lease.c:143-144 EOVERFLOW */
					:: else ->
						d_step {                        /* lease.c:148-154 lease_cas */
							if
							:: LO == l && HI == h ->
								transition(l, h, MKLO(TERM(l) + 1, s + 1), now + LEASE);
								newterm(TERM(l) + 1, now, HOLDER(l) != 0, 0);
								if
								:: HOLDER(l) != 0 -> witness(W_TAKEOVER)
								:: else
								fi;
								LO = MKLO(TERM(l) + 1, s + 1);
								HI = now + LEASE;
								cterm[m] = TERM(l) + 1;
								report(m, TERM(l) + 1, now);
								r = 1
							:: else
							fi
						}
					fi
				fi
			fi
		od;
		l = 0; h = 0; now = 0; r = 0

	:: CAN(OP_RENEW) && cterm[m] != 0 ->
		/* shmelect_candidate_renew (lease.c:163-189) */
		r = 2;
		do
		:: r != 2 -> break
		:: else ->
			lease_read(l, h);                       /* lease.c:175 */
			CLOCK_READ(now);                        /* lease.c:176 */
			if
			:: l != MKLO(cterm[m], s + 1) || now >= h -> r = 0      /* lease.c:178-179 */
			:: else ->
				if
				:: now + LEASE <= h ->          /* lease.c:182-183 nothing to extend: */
					d_step {                /* lo again, after the clock read */
						if
						:: LO == l ->
							report(m, cterm[m], now);
							r = 1
						:: else ->
							r = 0
						fi
					}
				:: else ->
#ifdef BUG_RENEW_NO_CAS
					d_step {                /* (bug) a plain store of hi */
						HI = now + LEASE;
						report(m, cterm[m], now);
						r = 1
					}
#else
					d_step {                /* lease.c:186-187 lease_cas */
						if
						:: LO == l && HI == h ->
							transition(l, h, l, now + LEASE);
							HI = now + LEASE;
							report(m, cterm[m], now);
							r = 1
						:: else
						fi
					}
#endif
				fi
			fi
		od;
		l = 0; h = 0; now = 0; r = 0

	:: CAN(OP_RESIGN) && cterm[m] != 0 ->
		resign(m, s)

	:: CAN(OP_LEADER) ->
		/* shmelect_candidate_is_leader, then the token to the fence */
		is_leader(m, s);
#if FENCE
		if
		:: r -> fence_check(t)
		:: else
		fi;
#endif
		r = 0; t = 0

	:: CAN(OP_HANDOVER) && cterm[m] != 0 && cterm[m] < MAXTERM ->
		/* elector.c:162-189 leader_handover: a request names slot x,
		 * whose owner word is ACTIVE (:181, :185); transfer expecting our
		 * own lease word (:187-188) */
		atomic {
			x = 0;
			do
			:: x < NSLOT && x != s && STATE(owner[x]) == ACTIVE -> break
			:: x < NSLOT -> x++
			:: x >= NSLOT -> break
			od;
			if
			:: x < NSLOT -> ow = owner[x]
			:: else
			fi
		};
		if
		:: x < NSLOT ->
			e = MKLO(cterm[m], s + 1);
			lease_transfer(x, e, ow)
		:: else
		fi;
		x = 0; e = 0; br = 0; ow = 0

	:: CAN(OP_FOLLOW) && ANYDIED ->
		/* follower_sleep (wait.c:285-329): the check saw lease l (wait.c:348
		 * or elector.c:357); life_watch (wait.c:309, :152-156), or the load
		 * after the sleep (wait.c:324), finds the holder's mutex OWNER_DIED:
		 * end exactly that term (wait.c:313, :325).  Started only once some
		 * mutex word shows OWNER_DIED: a lease word loaded earlier differs
		 * only if the holder changed it meanwhile, and then the break
		 * finds lo changed and does nothing, or breaks the same term. */
		lease_read(l, h);
		if
		:: HOLDER(l) != 0 && HOLDER(l) != s + 1 && (life[HOLDER(l) - 1] & DIED) ->
			e = l;
			lease_break(e, K_DEATH);
			e = 0;
			if
			:: br == 1 -> witness(W_FOLLOW)
			:: else
			fi
		:: else
		fi;
		l = 0; h = 0; br = 0

	:: CAN(OP_LEAVE) ->
		/* shmelect_candidate_leave (candidate.c:393-408), slot_depart (:223-239) */
		resign(m, s);                           /* candidate.c:402 */
		if
		:: !FREE_FIRST ->
			d_step {                        /* candidate.c:228-229 ACTIVE -> LEAVING */
				if
				:: owner[s] == OWNER(m, ACTIVE) -> owner[s] = OWNER(m, LEAVING)
				:: else
				fi
			};
			free_recheck(s, OWNER(m, LEAVING), W_RELEASE);  /* candidate.c:230 */
			life[s] = 0;                    /* candidate.c:233 life_stop */
			d_step {                        /* candidate.c:234, :201-213 slot_free */
				if
				:: owner[s] == OWNER(m, LEAVING) -> owner[s] = 0
				:: else
				fi;
				left[m] = 1
			}
		:: else ->                              /* (bug) the code before faf1b10 */
			life[s] = 0;
			d_step {
				if
				:: owner[s] == OWNER(m, ACTIVE) -> owner[s] = 0
				:: else
				fi;
				left[m] = 1
			};
			free_recheck(s, 0, W_RELEASE)
		fi;
		break
	od
	} unless { dead[m] }
}

/* An application thread of member m: calls is_leader and hands the token
 * it is told to the fence. */
proctype reader(byte m; byte s)
{
	byte l, h, now, r, t, x, atclk;

	{
end:	do
#ifdef BUG_CLOCK_BEFORE_LOAD
	:: !left[m] ->
#else
	:: !left[m] && cterm[m] != 0 ->        /* (with term 0 it returns at once) */
#endif
		is_leader(m, s);
		if
		:: r -> witness(W_READER)
		:: else
		fi;
#if FENCE
		if
		:: r -> fence_check(t)
		:: else
		fi;
#endif
		r = 0; t = 0
	:: left[m] -> break
	od
	} unless { dead[m] }
}

#ifdef CLOCK_PROCESS
/* The clock: one tick at any moment, up to MAXCLK. */
active proctype clock()
{
	do
	:: clk < MAXCLK -> clk++
	:: else -> break
	od
}
#endif

#if MAXKILL > 0
/*
 * SIGKILL of any member at any step, all its threads at once, and the
 * kernel's part in the same step: it walks the robust list of the life
 * thread (its mutex word gets FUTEX_OWNER_DIED) and later the pid
 * disappears.  One step: in between, a follower or a reaper would only
 * see the member alive and do nothing, which it can as well do before.
 */
active proctype killer()
{
	byte m, x;

end:	do
	:: kills < MAXKILL ->
		atomic {
			m = 1;
			do
			:: m < NKILL -> m++
			:: break
			od;
			if
			:: !dead[m] && !left[m] && (KILLABLE & (1 << m)) ->
				dead[m] = 1;
				kills++;
				x = 0;
				do
				:: x < NSLOT ->
					if
					:: life[x] == m -> life[x] = m | DIED
					:: else
					fi;
					x++
				:: else -> break
				od;
				gone[m] = 1
			:: else
			fi;
			m = 0;
			x = 0
		}
	od
}
#endif

#if DAEMON != 0
/* shmelectd: reaps dead members' slots (shmelect_election_reap,
 * election.c:496-514 -> candidate.c:68-123), and carries out operator
 * requests: shmelect_election_evict (election.c:477-485: lease_break(e, 0,
 * true)) and a forced handover (election.c:516-554: slot_find_identity at
 * :545, then lease_transfer(e, i, owner, 0) at :549). */
active proctype daemon()
{
	byte ops, i;
	byte l, h, now, e, br, ok, x, w, ow;

end:	do
	:: (DAEMON & D_REAP) && REAPABLE ->
		atomic {
			i = 0;
			do
			:: i < NSLOT - 1 -> i++
			:: break
			od
		};
		reap(i);
		i = 0
	:: (DAEMON & D_EVICT) && ops < MAXOP ->
		ops++;
		lease_break(0, K_EVICT);
		if
		:: br == 1 -> witness(W_EVICT)
		:: else
		fi;
		br = 0
	:: (DAEMON & D_FORCE) && ops < MAXOP ->
		ops++;
		atomic {                                /* slot_find_identity */
			x = 0;
			do
			:: x < NSLOT && STATE(owner[x]) == ACTIVE -> break
			:: x < NSLOT -> x++
			:: x >= NSLOT -> break
			od;
			if
			:: x < NSLOT -> ow = owner[x]
			:: else
			fi
		};
		if
		:: x < NSLOT ->
			e = 0;
			lease_transfer(x, e, ow)
		:: else
		fi;
		x = 0; e = 0; br = 0; ow = 0
	od
}
#endif

init
{
	byte x;

	c_code { { const char *w = getenv("PML_WITNESS"); now.wsel = w ? atoi(w) : 0; } };
	atomic {
		x = 0;
		do
		:: x < NSLOT ->
			owner[x] = OWNER(x + 1, ACTIVE);
			life[x] = x + 1;
			x++
		:: else -> break
		od;
		x = 0;
		do
		:: x < NSLOT -> run member(x + 1, x); x++
		:: else -> break
		od;
#if JOIN
		run member(JOINER, 0);
#endif
		x = 0;
		do
		:: x < READERS && x < NSLOT -> run reader(x + 1, x); x++
		:: else -> break
		od;
		x = 0
	}
}
