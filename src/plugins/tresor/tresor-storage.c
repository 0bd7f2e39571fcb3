/* Storage hooks of the tresor plugin: archive folders refuse everything
   that would remove or alter a mail, and every save (and every expunge
   elsewhere) is hashed and journaled when its transaction commits. */
#include "lib.h"
#include "tresor-dovecot-compat.h"
#include "array.h"
#include "str.h"
#include "istream.h"
#include "ostream.h"
#include "iostream-temp.h"
#include "istream-header-filter.h"
#include "message-header-parser.h"
#include "hash-method.h"
#include "guid.h"
#include "file-lock.h"
#include "seq-range-array.h"
#include "mailbox-list.h"
#include "mailbox-list-iter.h"
#include "mailbox-guid-cache.h"
#include "mail-namespace.h"
#include "mail-storage-private.h"
#include "mbox-storage.h"
#include "tresor-plugin.h"
#include "tresor-storage.h"
#include "tresor-hash-istream.h"
#include "tresor-user-journal.h"

#define TRESOR_CONTEXT(obj) \
	MODULE_CONTEXT(obj, tresor_storage_module)
#define TRESOR_CONTEXT_REQUIRE(obj) \
	MODULE_CONTEXT_REQUIRE(obj, tresor_storage_module)
#define TRESOR_MAIL_CONTEXT_REQUIRE(obj) \
	MODULE_CONTEXT_REQUIRE(obj, tresor_mail_module)

struct tresor_mailbox {
	union mailbox_module_context module_ctx;
	struct tresor_user *tuser;
	bool archive;
	bool journaled;
	/* The store keeps the GUID a save asks for (maildir, dbox); mbox
	   names a mail by the MD5 of its header instead, which identical
	   mails share, so its records carry no mail GUID. */
	bool save_guids;
	/* mbox: drops header fields it keeps its own state in */
	bool mbox;
	/* mdbox: a save cancelled and then committed with others cuts the
	   storage file it was appended to (see tresor_save_finish()) */
	bool mdbox;
	/* sdbox, mdbox: records journaled at the commit point, inside
	   Dovecot's commit (tresor_transaction_save_commit_post()) */
	bool journal_at_commit_point;
	char guid[GUID_128_SIZE * 2 + 1]; /* "" until looked up */
};

/* A mail saved (or dropped as a duplicate) in this transaction. */
struct tresor_save {
	tresor_hash_result hash;
	/* Dovecot's GUID of the saved mail, NULL if unknown before commit */
	const char *guid;
	/* A dropped duplicate: not stored, the earlier copy stands. */
	uint32_t dropped_for_uid;
	uint64_t dropped_for_seq;
	bool dropped_by_content;
	/* mdbox: a duplicate written to the store all the same; dropped only
	   when the transaction stores nothing else (rolled back), else kept
	   as an ordinary save (tresor_transaction_keep_written_duplicates) */
	bool written;
	/* a delivered invoice (tresor-invoice-note.h): name, value pairs */
	const char *const *invoice_fields;
};

struct tresor_expunge {
	uint32_t uid;
	const char *guid;
};

struct tresor_transaction {
	union mailbox_transaction_module_context module_ctx;
	pool_t pool;
	ARRAY(struct tresor_save) saves;
	ARRAY(struct tresor_expunge) expunges;
	/* refused operations: action -> UIDs */
	ARRAY_TYPE(seq_range) denied_expunge_uids;
	ARRAY_TYPE(seq_range) denied_flag_uids;
	/* archive mails doveadm tresor purge has journaled purge records for:
	   the only expunges an archive folder lets through */
	ARRAY_TYPE(seq_range) purge_uids;
	tresor_hasher *append_hasher; /* the APPEND being written */
	/* passes the APPEND to the store, feeding append_hasher (or, for
	   mbox, append_spool) with each byte read */
	struct istream *append_input;
	/* mbox: the APPEND as the store read it, hashed in the form mbox
	   serves at save_finish */
	struct ostream *append_spool;
	const char *append_guid;
	/* set while Dovecot commits, when the records may be journaled at
	   its commit point (tresor_transaction_save_commit_post()): where
	   to, and under which mailbox GUID */
	tresor_journal *commit_journal;
	const char *commit_mailbox_guid;
	/* journaled at the commit point; journal_ret says how that went */
	bool journaled;
	int journal_ret;
	/* the UIDs the dropped duplicates report (those of the earlier
	   copies), added to the commit's saved UIDs once Dovecot's commit
	   has returned: the plugins it notifies (mail_log) count only the
	   saves they saw */
	ARRAY_TYPE(seq_range) dropped_uids;
	bool locked;
};

static MODULE_CONTEXT_DEFINE_INIT(tresor_storage_module,
				  &mail_storage_module_register);
static MODULE_CONTEXT_DEFINE_INIT(tresor_mail_module, &mail_module_register);

static void tresor_hash_loop(void *context, const void *data, size_t size)
{
	tresor_hasher_update(context, data, size);
}

/* Lets Dovecot's hash istream feed the bytes of an APPEND, as the store
   reads them, into the core's message hasher. */
static const struct hash_method tresor_hash_method = {
	.name = "tresor",
	.loop = tresor_hash_loop,
};

static void tresor_spool_loop(void *context, const void *data, size_t size)
{
	o_stream_nsend(context, data, size);
}

/* Copies the bytes of an APPEND into a temporary stream instead. */
static const struct hash_method tresor_spool_method = {
	.name = "tresor-spool",
	.loop = tresor_spool_loop,
};

static const char *tresor_archive_error(struct mailbox *box,
					const char *what)
{
	return t_strdup_printf("%s refused: %s is a read-only archive folder "
			       "(tresor)", what, mailbox_get_vname(box));
}

/* The GUID of a mailbox opened without index files (lazy_expunge's
   destination), where mbox has none that lasts: read from an instance of
   the same mailbox with its index, which keeps it. */
static int tresor_lasting_mailbox_guid(struct mailbox *box,
				       struct mailbox_metadata *metadata_r)
{
	struct mailbox *lasting;
	int ret;

	lasting = mailbox_alloc(box->list, box->vname,
				MAILBOX_FLAG_IGNORE_ACLS);
	ret = mailbox_get_metadata(lasting, MAILBOX_METADATA_GUID, metadata_r);
	if (ret < 0) {
		mail_storage_set_critical(box->storage,
			"tresor: can't get the GUID of %s: %s",
			mailbox_get_vname(box),
			mailbox_get_last_internal_error(lasting, NULL));
	}
	mailbox_free(&lasting);
	return ret;
}

/* The mailbox's GUID, looked up once (for mbox and mailboxes without
   index files first by tresor_mailbox_guid_early()). */
static const char *tresor_mailbox_guid(struct mailbox *box)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	struct mailbox_metadata metadata;

	if (tbox->guid[0] == '\0') {
		if (mailbox_get_metadata(box, MAILBOX_METADATA_GUID,
					 &metadata) < 0 &&
		    ((box->flags & MAILBOX_FLAG_NO_INDEX_FILES) == 0 ||
		     tresor_lasting_mailbox_guid(box, &metadata) < 0))
			return NULL;
		i_strocpy(tbox->guid, guid_128_to_string(metadata.guid),
			  sizeof(tbox->guid));
	}
	return tbox->guid;
}

/* The mailbox's GUID, read before the save writes anything: mbox may
   have to sync to create it, which it must not do in the middle of its
   own save (and lazy_expunge's target, opened without index files, reads
   it from a lasting instance that syncs too). The user's mailbox-GUID
   lock serialises this between processes, or two of them creating a new
   mbox folder's GUID at once give it two; it is never taken while a
   store lock is held, so it can't deadlock with the journal lock a
   commit takes under mbox's lock. A failure here fails the commit. */
static void tresor_mailbox_guid_early(struct mailbox *box)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	struct file_lock_settings lock_set = {
		.lock_method = FILE_LOCK_METHOD_FLOCK,
		.close_on_free = TRUE,
	};
	struct file_lock *lock = NULL;
	const char *path, *error;
	int fd;

	/* other formats create a GUID under their own lock (maildir's
	   uidlist), and it is read at the commit */
	if (tbox->guid[0] != '\0' ||
	    (!tbox->mbox && (box->flags & MAILBOX_FLAG_NO_INDEX_FILES) == 0))
		return;
	/* (opening the journal creates tresor_dir) */
	if (tresor_user_journal(tbox->tuser, &error) == NULL)
		e_warning(box->event, "tresor: %s", error);
	path = t_strconcat(tbox->tuser->dir, "/mailbox-guid.lock", NULL);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd == -1) {
		e_warning(box->event, "tresor: open(%s) failed: %m", path);
	} else if (file_wait_lock(fd, path, F_WRLCK, &lock_set,
				  TRESOR_JOURNAL_LOCK_TIMEOUT_MSECS / 1000,
				  &lock, &error) <= 0) {
		e_warning(box->event, "tresor: %s", error);
		i_close_fd(&fd);
	}
	(void)tresor_mailbox_guid(box);
	if (lock != NULL)
		file_lock_free(&lock);
}

static const char *tresor_uids_string(const ARRAY_TYPE(seq_range) *uids)
{
	const struct seq_range *range;
	string_t *str = t_str_new(64);

	array_foreach(uids, range) {
		if (str_len(str) > 0)
			str_append_c(str, ',');
		if (range->seq1 == range->seq2)
			str_printfa(str, "%u", range->seq1);
		else
			str_printfa(str, "%u:%u", range->seq1, range->seq2);
	}
	return str_c(str);
}

/* Journals a refused operation. A journal failure is logged but never
   turns the refusal into permission. */
static void
tresor_storage_journal_denied(struct mailbox *box, const char *action,
			      const ARRAY_TYPE(seq_range) *uids,
			      const char *reason)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	struct mail_user *user = box->storage->user;
	tresor_record rec;
	const char *error;

	i_zero(&rec);
	rec.event = "denied";
	rec.action = action;
	rec.mailbox = mailbox_get_vname(box);
	rec.mailbox_guid = tresor_mailbox_guid(box);
	if (uids != NULL && array_count(uids) > 0) {
		const struct seq_range *first = array_front(uids);

		rec.uid = first->seq1;
		reason = t_strdup_printf("%s (UIDs %s)", reason,
					 tresor_uids_string(uids));
	}
	rec.reason = reason;
	if (tresor_user_append(user, tbox->tuser, &rec, NULL, &error) < 0)
		e_error(box->event, "tresor: can't journal a refused %s: %s",
			action, error);
	else
		e_info(box->event, "tresor: %s", reason);
}

static struct tresor_transaction *
tresor_transaction_pool(struct tresor_transaction *tt)
{
	if (tt->pool == NULL) {
		tt->pool = pool_alloconly_create("tresor transaction", 1024);
		p_array_init(&tt->saves, tt->pool, 4);
		p_array_init(&tt->expunges, tt->pool, 4);
		p_array_init(&tt->denied_expunge_uids, tt->pool, 4);
		p_array_init(&tt->denied_flag_uids, tt->pool, 4);
		p_array_init(&tt->purge_uids, tt->pool, 4);
		p_array_init(&tt->dropped_uids, tt->pool, 4);
	}
	return tt;
}

/* Ends the hashing of an APPEND: the store may still hold the stream, so
   it is detached from the hasher and spool before they are freed. */
static void tresor_transaction_end_append(struct tresor_transaction *tt)
{
	if (tt->append_input != NULL) {
		tresor_hash_istream_detach(tt->append_input);
		i_stream_unref(&tt->append_input);
	}
	if (tt->append_spool != NULL) {
		/* dropped unread (a cancelled or failed save): its write
		   errors don't matter */
		o_stream_ignore_last_errors(tt->append_spool);
		o_stream_destroy(&tt->append_spool);
	}
	if (tt->append_hasher != NULL) {
		tresor_hasher_free(tt->append_hasher);
		tt->append_hasher = NULL;
	}
}

static void tresor_transaction_free(struct tresor_mailbox *tbox,
				    struct tresor_transaction *tt)
{
	tresor_transaction_end_append(tt);
	if (tt->locked)
		tresor_user_unlock(tbox->tuser);
	pool_unref(&tt->pool);
	i_free(tt);
}

/* ------------------------------------------------------------------ */
/* mail: expunge and flag changes                                     */

static void tresor_mail_expunge(struct mail *_mail)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	union mail_module_context *tmail = TRESOR_MAIL_CONTEXT_REQUIRE(mail);
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(_mail->box);
	struct tresor_transaction *tt =
		tresor_transaction_pool(TRESOR_CONTEXT_REQUIRE(_mail->transaction));
	struct tresor_expunge *expunge;
	const char *guid;

	if (tbox->archive &&
	    seq_range_exists(&tt->purge_uids, _mail->uid)) {
		/* a purge: its purge record is the journal entry */
		tmail->super.expunge(_mail);
		return;
	}
	if (tbox->archive) {
		/* Not passed on, so lazy_expunge (loaded after us) never
		   sees it; the commit fails and journals the refusal. */
		seq_range_array_add(&tt->denied_expunge_uids, _mail->uid);
		return;
	}
	if (tbox->journaled) {
		if (!tbox->save_guids ||
		    mail_get_special(_mail, MAIL_FETCH_GUID, &guid) < 0)
			guid = "";
		expunge = array_append_space(&tt->expunges);
		expunge->uid = _mail->uid;
		expunge->guid = p_strdup(tt->pool, guid);
	}
	tmail->super.expunge(_mail);
}

static void tresor_mail_update_flags(struct mail *_mail,
				     enum modify_type modify_type,
				     enum mail_flags flags)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	union mail_module_context *tmail = TRESOR_MAIL_CONTEXT_REQUIRE(mail);
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(_mail->box);
	struct tresor_transaction *tt;

	if (tbox->archive && modify_type != MODIFY_REMOVE &&
	    (flags & MAIL_DELETED) != 0) {
		/* \Deleted is the first half of an expunge. */
		tt = tresor_transaction_pool(
			TRESOR_CONTEXT_REQUIRE(_mail->transaction));
		seq_range_array_add(&tt->denied_flag_uids, _mail->uid);
		return;
	}
	tmail->super.update_flags(_mail, modify_type, flags);
}

void tresor_mail_allocated(struct mail *_mail)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	struct mail_vfuncs *v = mail->vlast;
	struct tresor_mailbox *tbox = TRESOR_CONTEXT(_mail->box);
	union mail_module_context *tmail;

	if (tbox == NULL || TRESOR_CONTEXT(_mail->transaction) == NULL ||
	    (!tbox->archive && !tbox->journaled))
		return;

	tmail = p_new(mail->pool, union mail_module_context, 1);
	tmail->super = *v;
	mail->vlast = &tmail->super;
	v->expunge = tresor_mail_expunge;
	v->update_flags = tresor_mail_update_flags;
	MODULE_CONTEXT_SET_SELF(mail, tresor_mail_module, tmail);
}

/* ------------------------------------------------------------------ */
/* saving                                                             */

/* With tresor_duplicates / tresor_content_duplicates = drop, a mail
   already in this archive folder is not stored again. Returns TRUE when
   the save is to be dropped; the journal lock is then held until the
   transaction ends, so concurrent deliveries see each other. */
static bool tresor_save_is_dropped_duplicate(struct mailbox *box,
					     struct tresor_transaction *tt,
					     struct tresor_save *save)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	const tresor_config *cfg = tbox->tuser->cfg;
	const struct tresor_save *other;
	const char *mailbox_guid, *error;
	tresor_journal *journal;
	uint64_t seq;
	uint32_t uid;
	char err[512];
	int content, ret;

	if (!tbox->archive)
		return FALSE;
	for (content = 0; content <= 1; content++) {
		if ((content == 0 ? tresor_config_duplicates(cfg) :
		     tresor_config_content_duplicates(cfg)) !=
		    TRESOR_DUPLICATES_DROP)
			continue;
		if (!tt->locked) {
			if (tresor_user_lock(tbox->tuser, &error) < 0) {
				e_error(box->event, "tresor: %s - "
					"duplicate check skipped, mail kept",
					error);
				return FALSE;
			}
			tt->locked = TRUE;
		}
		if ((mailbox_guid = tresor_mailbox_guid(box)) == NULL)
			return FALSE;
		if ((journal = tresor_user_journal(tbox->tuser, &error)) == NULL)
			return FALSE;
		ret = tresor_journal_find_duplicate(journal, mailbox_guid, content == 0 ? save->hash.sha256 :
			save->hash.content_sha256, content, &seq, &uid,
			err, sizeof(err));
		if (ret < 0) {
			e_error(box->event, "tresor: duplicate look-up failed, "
				"mail kept: %s", err);
			return FALSE;
		}
		if (ret == 0)
			continue;
		/* The client is told the earlier copy's UID: unknown when it
		   was journaled without one, so keep this copy then. */
		if (uid == 0)
			return FALSE;
		/* Two drops onto one earlier mail in one transaction would
		   report its UID twice to the client; keep the second. */
		array_foreach(&tt->saves, other) {
			if (other->dropped_for_uid == uid)
				return FALSE;
		}
		save->dropped_for_uid = uid;
		save->dropped_for_seq = seq;
		save->dropped_by_content = content == 1;
		return TRUE;
	}
	return FALSE;
}


/* The GUID the saved mail will have. Dovecot names it at commit and a
   mail being saved can't tell it, so where none was requested the save
   is given one: the backend stores it as the mail's GUID (maildir as
   the file name, as dsync does). Allocated from the transaction's pool;
   NULL where the store can't keep a requested GUID (mbox). */
static const char *tresor_save_guid(struct tresor_mailbox *tbox,
				    struct tresor_transaction *tt,
				    struct mail_save_context *ctx)
{
	guid_128_t guid;

	if (!tbox->save_guids)
		return NULL;
	if (ctx->data.guid == NULL) {
		guid_128_generate(guid);
		mailbox_save_set_guid(ctx, guid_128_to_string(guid));
	}
	return p_strdup(tt->pool, ctx->data.guid);
}

/* mbox drops a header line that starts with "From " (it would end the
   mail in the mbox file), as its own save filter does. */
static void
tresor_mbox_drop_from_line(struct header_filter_istream *input ATTR_UNUSED,
			   struct message_header_line *hdr,
			   bool *matched, void *context ATTR_UNUSED)
{
	if (hdr != NULL && strncmp(hdr->name, "From ", 5) == 0)
		*matched = TRUE;
}

/* The mail read from input as the mailbox will serve it over IMAP, which
   is what the journal hashes. mbox leaves out the header fields it keeps
   its own state in (Content-Length, Status, X-UID, ...), adds a missing
   end of header and ends the body with a line feed: the same filter as
   mbox_save_get_input_stream(), with Dovecot's own list of those fields.
   The other formats store the bytes as given. Returns a new reference. */
static struct istream *
tresor_stored_form(struct tresor_mailbox *tbox, struct istream *input)
{
	if (!tbox->mbox) {
		i_stream_ref(input);
		return input;
	}
	return i_stream_create_header_filter(input,
		HEADER_FILTER_EXCLUDE | HEADER_FILTER_NO_CR |
		HEADER_FILTER_ADD_MISSING_EOH | HEADER_FILTER_END_BODY_WITH_LF,
		mbox_save_drop_headers, mbox_save_drop_headers_count,
		tresor_mbox_drop_from_line, (void *)NULL);
}

static int tresor_save_begin(struct mail_save_context *ctx,
			     struct istream *input)
{
	struct mailbox *box = ctx->transaction->box;
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	struct tresor_transaction *tt =
		tresor_transaction_pool(TRESOR_CONTEXT_REQUIRE(ctx->transaction));
	struct mail_user *user = box->storage->user;
	string_t *prefix;

	if (tbox->archive) {
		/* A mail must not arrive half-way to being expunged. */
		ctx->data.flags &= ENUM_NEGATE(MAIL_DELETED);
	}
	/* Copies and deliveries are hashed from their source in
	   tresor_copy(). */
	if (!tbox->journaled || ctx->copying_via_save)
		return tbox->module_ctx.super.save_begin(ctx, input);

	tresor_mailbox_guid_early(box);
	tt->append_guid = tresor_save_guid(tbox, tt, ctx);
	i_assert(tt->append_hasher == NULL && tt->append_input == NULL);
	tt->append_hasher = tresor_hasher_new(tbox->tuser->cfg);
	if (tt->append_hasher == NULL) {
		mail_storage_set_critical(box->storage,
					  "tresor: out of memory");
		return -1;
	}
	/* Hashed as the store reads it, not as it writes it: every format
	   reads the mail from this stream, while what it writes (mbox's
	   From_ line, dbox's metadata, a compressing plugin's output) is its
	   own storage form. mbox filters what it reads (see
	   tresor_stored_form()); a second filter stacked on its own would
	   change what it stores, so its input is copied aside and filtered
	   when the save is finished. */
	if (!tbox->mbox) {
		tt->append_input = tresor_hash_istream_create(input,
			&tresor_hash_method, tt->append_hasher);
	} else {
		prefix = t_str_new(128);
		mail_user_set_get_temp_prefix(prefix, user->set);
		tt->append_spool = iostream_temp_create(str_c(prefix), 0);
		tt->append_input = tresor_hash_istream_create(input,
			&tresor_spool_method, tt->append_spool);
	}
	return tbox->module_ctx.super.save_begin(ctx, tt->append_input);
}

/* Ends the hashing of the APPEND being saved: fails unless the store read
   the mail to its end, so that a hash never covers part of a mail. */
static int tresor_save_finish_hash(struct mailbox *box,
				   struct tresor_transaction *tt,
				   struct tresor_save *save)
{
	struct istream *input = tt->append_input, *spooled, *stored;
	const char *error;
	int ret = 0;

	if (input->stream_errno != 0) {
		mail_storage_set_critical(box->storage,
			"tresor: can't hash the mail being saved: read(%s) "
			"failed: %s", i_stream_get_name(input),
			i_stream_get_error(input));
		ret = -1;
	} else if (!tresor_hash_istream_is_complete(input)) {
		mail_storage_set_critical(box->storage,
			"tresor: can't hash the mail being saved: the store "
			"did not read it to its end");
		ret = -1;
	} else if (tt->append_spool != NULL &&
		   o_stream_flush(tt->append_spool) < 0) {
		mail_storage_set_critical(box->storage,
			"tresor: can't hash the mail being saved: write(%s) "
			"failed: %s", o_stream_get_name(tt->append_spool),
			o_stream_get_error(tt->append_spool));
		ret = -1;
	} else if (tt->append_spool != NULL) {
		spooled = iostream_temp_finish(&tt->append_spool, IO_BLOCK_SIZE);
		stored = tresor_stored_form(TRESOR_CONTEXT_REQUIRE(box),
					    spooled);
		if (tresor_user_stream_hash(tt->append_hasher, stored,
					    &save->hash,
					    &error) < 0) {
			mail_storage_set_critical(box->storage,
				"tresor: can't hash the mail being saved: %s",
				error);
			ret = -1;
		}
		i_stream_unref(&stored);
		i_stream_unref(&spooled);
	} else if (tresor_hasher_finish(tt->append_hasher, &save->hash) < 0) {
		mail_storage_set_critical(box->storage,
			"tresor: hashing the mail failed (out of memory)");
		ret = -1;
	}
	tresor_transaction_end_append(tt);
	return ret;
}

static int tresor_save_finish(struct mail_save_context *ctx)
{
	struct mailbox *box = ctx->transaction->box;
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	struct tresor_transaction *tt = TRESOR_CONTEXT_REQUIRE(ctx->transaction);
	struct tresor_save save;

	if (tt->append_hasher == NULL)
		return tbox->module_ctx.super.save_finish(ctx);

	i_zero(&save);
	save.guid = tt->append_guid;
	if (tresor_save_finish_hash(box, tt, &save) < 0) {
		tbox->module_ctx.super.save_cancel(ctx);
		return -1;
	}

	if (tresor_save_is_dropped_duplicate(box, tt, &save)) {
		if (!tbox->mdbox)
			tbox->module_ctx.super.save_cancel(ctx);
		else {
			/* mdbox checkpoints each finished mail in the storage
			   file it appends to, and a commit cuts the file back
			   to the last checkpoint: a cancelled first mail leaves
			   that at 0, which truncated the file and the mails
			   already in it (Dovecot 2.3 and 2.4). A rollback cuts
			   it correctly. */
			if (tbox->module_ctx.super.save_finish(ctx) < 0)
				return -1;
			save.written = TRUE;
		}
		array_push_back(&tt->saves, &save);
		return 0;
	}
	if (tbox->module_ctx.super.save_finish(ctx) < 0)
		return -1;
	array_push_back(&tt->saves, &save);
	return 0;
}

static void tresor_save_cancel(struct mail_save_context *ctx)
{
	struct tresor_mailbox *tbox =
		TRESOR_CONTEXT_REQUIRE(ctx->transaction->box);
	struct tresor_transaction *tt = TRESOR_CONTEXT_REQUIRE(ctx->transaction);

	tresor_transaction_end_append(tt);
	tbox->module_ctx.super.save_cancel(ctx);
}

/* Hashes the source of a copy or delivery as the destination will serve
   it. */
static int tresor_copy_hash(struct tresor_mailbox *tbox, struct mail *mail,
			    tresor_hash_result *result_r,
			    const char **error_r)
{
	struct istream *input, *stored;
	tresor_hasher *hasher;
	int ret;

	if (mail_get_stream_because(mail, NULL, NULL, "tresor hash",
				    &input) < 0) {
		*error_r = mailbox_get_last_internal_error(mail->box, NULL);
		return -1;
	}
	if ((hasher = tresor_hasher_new(tbox->tuser->cfg)) == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	stored = tresor_stored_form(tbox, input);
	ret = tresor_user_stream_hash(hasher, stored, result_r, error_r);
	i_stream_unref(&stored);
	tresor_hasher_free(hasher);
	return ret;
}

static int tresor_copy(struct mail_save_context *ctx, struct mail *mail)
{
	struct mailbox *box = ctx->transaction->box;
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	struct tresor_mailbox *src_tbox = TRESOR_CONTEXT(mail->box);
	struct tresor_transaction *tt =
		tresor_transaction_pool(TRESOR_CONTEXT_REQUIRE(ctx->transaction));
	struct tresor_save save;
	const char *error, *guid;

	if (ctx->moving && src_tbox != NULL && src_tbox->archive) {
		ARRAY_TYPE(seq_range) uids;
		const char *reason = tresor_archive_error(mail->box, "MOVE");

		t_array_init(&uids, 1);
		seq_range_array_add(&uids, mail->uid);
		tresor_storage_journal_denied(mail->box, "move-out", &uids,
					      reason);
		mail_storage_set_error(box->storage, MAIL_ERROR_PERM, reason);
		mailbox_save_cancel(&ctx);
		return -1;
	}
	if (tbox->archive)
		ctx->data.flags &= ENUM_NEGATE(MAIL_DELETED);
	if (!tbox->journaled)
		return tbox->module_ctx.super.copy(ctx, mail);

	tresor_mailbox_guid_early(box);
	/* Hash the source: a copy (hard link or re-save) and a delivery
	   store exactly its bytes, and a duplicate must be caught before
	   anything is written. */
	i_zero(&save);
	if (tresor_copy_hash(tbox, mail, &save.hash, &error) < 0) {
		mail_storage_set_critical(box->storage,
			"tresor: can't hash the mail being saved: %s", error);
		mailbox_save_cancel(&ctx);
		return -1;
	}
	if (tresor_save_is_dropped_duplicate(box, tt, &save)) {
		mailbox_save_cancel(&ctx);
		array_push_back(&tt->saves, &save);
		return 0;
	}
	/* A delivery (from LMTP's raw mail) or a copy between storages is
	   saved anew and gets a GUID here. A copy within the storage may be
	   a hard link (or a dbox reference), which keeps the source's GUID -
	   given one here it would lose that. */
	if (ctx->data.guid != NULL || mail->box->storage != box->storage)
		save.guid = tresor_save_guid(tbox, tt, ctx);
	if (tbox->module_ctx.super.copy(ctx, mail) < 0)
		return -1;
	if (!ctx->copying_via_save &&
	    mail_get_special(mail, MAIL_FETCH_GUID, &guid) == 0 &&
	    guid[0] != '\0')
		save.guid = p_strdup(tt->pool, guid);
	if (tbox->tuser->invoice_mail == mail)
		save.invoice_fields = tbox->tuser->invoice_fields;
	array_push_back(&tt->saves, &save);
	return 0;
}

void tresor_plugin_note_invoice(struct mail_user *user, struct mail *mail,
				const char *const *fields)
{
	struct tresor_user *tuser = TRESOR_USER_CONTEXT(user);
	ARRAY_TYPE(const_string) copy;

	if (tuser == NULL)
		return;
	if (tuser->invoice_pool == NULL) {
		tuser->invoice_pool =
			pool_alloconly_create("tresor invoice fields", 1024);
	} else {
		p_clear(tuser->invoice_pool);
	}
	p_array_init(&copy, tuser->invoice_pool, 26);
	for (; fields[0] != NULL && fields[1] != NULL; fields += 2) {
		const char *name = p_strdup(tuser->invoice_pool, fields[0]);
		const char *value = p_strdup(tuser->invoice_pool, fields[1]);

		array_push_back(&copy, &name);
		array_push_back(&copy, &value);
	}
	array_append_zero(&copy);
	tuser->invoice_fields = array_front(&copy);
	tuser->invoice_mail = mail;
}

/* ------------------------------------------------------------------ */
/* transactions                                                       */

static struct mailbox_transaction_context *
tresor_transaction_begin(struct mailbox *box,
			 enum mailbox_transaction_flags flags,
			 const char *reason)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	struct mailbox_transaction_context *t;
	struct tresor_transaction *tt;

	/* A journal record needs the UID. Without this flag, maildir may
	   leave UIDs unassigned when another process holds its uidlist (the
	   GUID still identifies such a save). */
	if (tbox->journaled)
		flags |= MAILBOX_TRANSACTION_FLAG_ASSIGN_UIDS;
	t = tbox->module_ctx.super.transaction_begin(box, flags, reason);
	tt = i_new(struct tresor_transaction, 1);
	MODULE_CONTEXT_SET(t, tresor_storage_module, tt);
	return t;
}

int tresor_plugin_purge_allow_expunge(struct mailbox_transaction_context *t,
				      uint32_t uid)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT(t->box);
	struct tresor_transaction *tt = TRESOR_CONTEXT(t);

	/* Only doveadm runs tresor purge; nothing an IMAP, POP3 or LMTP
	   session does can get here. */
	if (tbox == NULL || tt == NULL || !tbox->archive ||
	    strcmp(t->box->storage->user->service, "doveadm") != 0)
		return -1;
	seq_range_array_add(&tresor_transaction_pool(tt)->purge_uids, uid);
	return 0;
}

static void tresor_transaction_rollback(struct mailbox_transaction_context *t)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(t->box);
	struct tresor_transaction *tt = TRESOR_CONTEXT_REQUIRE(t);

	tbox->module_ctx.super.transaction_rollback(t);
	tresor_transaction_free(tbox, tt);
}

/* Refuses the whole transaction when it tried to expunge or \Deleted-flag
   a mail of an archive folder; the messages stay untouched. */
static bool tresor_transaction_refuse(struct mailbox_transaction_context *t,
				      struct tresor_transaction *tt)
{
	struct mailbox *box = t->box;
	enum mail_error error = MAIL_ERROR_PERM;
	const char *reason = NULL;

	if (tt->pool == NULL)
		return FALSE;
	if (array_count(&tt->denied_flag_uids) > 0) {
		reason = tresor_archive_error(box, "Setting \\Deleted");
		tresor_storage_journal_denied(box, "store-deleted",
					      &tt->denied_flag_uids, reason);
	}
	if (array_count(&tt->denied_expunge_uids) > 0) {
		reason = tresor_archive_error(box, "EXPUNGE");
		tresor_storage_journal_denied(box, "expunge",
					      &tt->denied_expunge_uids, reason);
		/* IMAP answers a NOPERM expunge with "OK Expunge ignored";
		   the client must see a NO [CANNOT]. */
		error = MAIL_ERROR_NOTPOSSIBLE;
	}
	if (reason == NULL)
		return FALSE;
	mail_storage_set_error(box->storage, error, reason);
	return TRUE;
}

/* The GUID of a copied mail that was neither hard-linked nor given one
   (a copy that fell back to saving): read back after the commit from a
   fresh instance of the mailbox, as the caller's view doesn't show the
   new mail before its next sync. Rare, so opened only when needed. */
struct tresor_guid_lookup {
	struct mailbox *box;
	struct mailbox_transaction_context *trans;
	struct mail *mail;
	bool failed;
};

static const char *tresor_guid_lookup(struct tresor_guid_lookup *lookup,
				      struct mailbox *box, uint32_t uid)
{
	const char *guid;

	if (uid == 0 || lookup->failed)
		return NULL;
	if (lookup->box == NULL) {
		lookup->box = mailbox_alloc(box->list, box->vname, 0);
		if (mailbox_open(lookup->box) < 0) {
			e_warning(box->event, "tresor: can't look up GUIDs: %s",
				  mailbox_get_last_internal_error(lookup->box,
								  NULL));
			lookup->failed = TRUE;
			return NULL;
		}
		lookup->trans = mailbox_transaction_begin(lookup->box, 0,
							  "tresor guid");
		lookup->mail = mail_alloc(lookup->trans, MAIL_FETCH_GUID, NULL);
	}
	if (!mail_set_uid(lookup->mail, uid) ||
	    mail_get_special(lookup->mail, MAIL_FETCH_GUID, &guid) < 0 ||
	    guid[0] == '\0')
		return NULL;
	return t_strdup(guid);
}

static void tresor_guid_lookup_deinit(struct tresor_guid_lookup *lookup)
{
	if (lookup->mail != NULL)
		mail_free(&lookup->mail);
	if (lookup->trans != NULL)
		mailbox_transaction_rollback(&lookup->trans);
	if (lookup->box != NULL)
		mailbox_free(&lookup->box);
}

ARRAY_DEFINE_TYPE(tresor_record, tresor_record);

/* The journal records of the transaction's saves and expunges (allocated
   from the data stack). Before the commit (changes == NULL) the saves'
   UIDs are not known yet, and dropped duplicates - nothing stored - are
   left out; after it, dropped_uids receives the UIDs the dropped
   duplicates report. */
static void
tresor_transaction_records(struct mailbox *box, struct tresor_transaction *tt,
			   const char *mailbox_guid,
			   struct mail_transaction_commit_changes *changes,
			   ARRAY_TYPE(tresor_record) *records,
			   ARRAY_TYPE(seq_range) *dropped_uids)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	struct mail_user *user = box->storage->user;
	struct seq_range_iter iter;
	const struct tresor_save *save;
	const struct tresor_expunge *expunge;
	struct tresor_guid_lookup lookup;
	tresor_record *rec;
	unsigned int n = 0;
	uint32_t uid;

	if (changes != NULL)
		seq_range_array_iter_init(&iter, &changes->saved_uids);
	i_zero(&lookup);
	array_foreach(&tt->saves, save) {
		if (changes == NULL && save->dropped_for_uid != 0)
			continue;
		rec = array_append_space(records);
		rec->mailbox = mailbox_get_vname(box);
		rec->mailbox_guid = mailbox_guid;
		rec->uidvalidity = changes == NULL ? 0 : changes->uid_validity;
		rec->size = save->hash.size;
		rec->sha256 = save->hash.sha256;
		rec->imap_sha256 = save->hash.imap_sha256[0] == '\0' ? NULL :
			save->hash.imap_sha256;
		rec->content_sha256 = save->hash.content_sha256;
		rec->message_id = save->hash.message_id[0] == '\0' ? NULL :
			save->hash.message_id;
		/* what makes its later removal a bypass (verify: BYPASS) */
		rec->archive = tbox->archive ? 1 : 0;
		if (changes == NULL) {
			rec->event = "save";
			rec->guid = save->guid;
		} else if (save->dropped_for_uid != 0) {
			rec->event = "duplicate";
			rec->uid = save->dropped_for_uid;
			if (save->dropped_by_content)
				rec->content_duplicate_of = save->dropped_for_seq;
			else
				rec->duplicate_of = save->dropped_for_seq;
			rec->reason = "identical to a mail already in this "
				"archive folder: not stored again";
			seq_range_array_add(dropped_uids, rec->uid);
		} else {
			/* the core fills in duplicate_of */
			rec->event = "save";
			/* saved_uids is empty when the backend assigns no
			   UIDs at commit (then verify reports the mail). */
			if (seq_range_array_iter_nth(&iter, n++, &uid))
				rec->uid = uid;
			rec->guid = save->guid != NULL ? save->guid :
				!tbox->save_guids ? NULL :
				tresor_guid_lookup(&lookup, box, rec->uid);
			if (save->invoice_fields != NULL) {
				/* the invoice it is, right after its save */
				tresor_record *inv = array_append_space(records);

				rec = array_idx_modifiable(records,
					array_count(records) - 2);
				inv->event = "invoice";
				inv->mailbox = rec->mailbox;
				inv->mailbox_guid = rec->mailbox_guid;
				inv->uidvalidity = rec->uidvalidity;
				inv->uid = rec->uid;
				inv->guid = rec->guid;
				inv->sha256 = rec->sha256;
				inv->archive = rec->archive;
				inv->invoice = save->invoice_fields;
			}
		}
	}
	tresor_guid_lookup_deinit(&lookup);
	array_foreach(&tt->expunges, expunge) {
		rec = array_append_space(records);
		rec->event = "expunge";
		rec->mailbox = mailbox_get_vname(box);
		rec->mailbox_guid = mailbox_guid;
		rec->uid = expunge->uid;
		rec->guid = expunge->guid[0] == '\0' ? NULL : expunge->guid;
	}
	array_foreach_modifiable(records, rec) {
		rec->service = user->service;
		rec->session = user->session_id;
	}
}

static void tresor_set_journal_error(struct mailbox *box)
{
	mail_storage_set_error(box->storage, MAIL_ERROR_TEMP,
		"tresor: the archive journal can't be written; "
		"try again later");
}

/* Before the commit: announces its records to the journal, which reserves
   their space and keeps them until they are journaled, so that a process
   killed between the commit and the append leaves them behind to be
   journaled by the next one. A journal that can't take them (full, read-
   only) fails the save before anything is stored. */
static int
tresor_transaction_write_intent(struct mailbox *box,
				struct tresor_transaction *tt,
				tresor_journal *journal,
				const char *mailbox_guid)
{
	ARRAY_TYPE(tresor_record) records;
	char err[512];

	t_array_init(&records, array_count(&tt->saves) +
		     array_count(&tt->expunges) + 1);
	tresor_transaction_records(box, tt, mailbox_guid, NULL, &records,
				   NULL);
	if (array_count(&records) == 0)
		return 0;
	if (tresor_journal_write_intent(journal, array_front(&records),
					array_count(&records), err,
					sizeof(err)) < 0) {
		e_error(box->event, "tresor: journal write failed, nothing "
			"stored: %s", err);
		tresor_set_journal_error(box);
		return -1;
	}
	return 0;
}

/* Journals the committed saves and expunges, with one write and one
   fdatasync, before the commit is reported to the caller. The dropped
   duplicates' UIDs go to tt->dropped_uids. */
static int
tresor_transaction_journal(struct mailbox *box, struct tresor_transaction *tt,
			   tresor_journal *journal, const char *mailbox_guid,
			   struct mail_transaction_commit_changes *changes)
{
	ARRAY_TYPE(tresor_record) records;
	const char *error;
	char err[512];

	if (changes->uid_validity == 0) {
		/* Nothing was stored (only dropped duplicates); the client
		   still gets a valid APPENDUID/COPYUID. */
		struct mailbox_status status;

		mailbox_get_open_status(box, STATUS_UIDVALIDITY, &status);
		changes->uid_validity = status.uidvalidity;
	}
	t_array_init(&records, array_count(&tt->saves) +
		     array_count(&tt->expunges) + 1);
	tresor_transaction_records(box, tt, mailbox_guid, changes, &records,
				   &tt->dropped_uids);

	/* flushed by the caller once the lock is released */
	if (tresor_journal_append_batch_unflushed(journal,
			array_front(&records), array_count(&records), NULL,
			err, sizeof(err)) < 0) {
		error = t_strdup(err);
		goto failed;
	}
	return 0;

failed:
	/* The mails are stored but not journaled: the client is told the
	   save failed (LMTP answers 4xx and retries; the retry is then a
	   duplicate). The intent stays, and the next writer journals them
	   as interrupted. */
	e_error(box->event, "tresor: journal write failed: %s", error);
	tresor_set_journal_error(box);
	return -1;
}

/* Whether the transaction stores or expunges a mail: FALSE when all its
   saves are dropped duplicates. */
static bool tresor_transaction_stores(const struct tresor_transaction *tt)
{
	const struct tresor_save *save;

	if (array_count(&tt->expunges) > 0)
		return TRUE;
	array_foreach(&tt->saves, save) {
		if (save->dropped_for_uid == 0)
			return TRUE;
	}
	return FALSE;
}

/* mdbox: the duplicates written to the store in a transaction that
   stores other mails too can't be taken out again; they stay, journaled
   as the saves they now are. */
static void
tresor_transaction_keep_written_duplicates(struct mailbox *box,
					   struct tresor_transaction *tt)
{
	struct tresor_save *save;

	array_foreach_modifiable(&tt->saves, save) {
		if (!save->written || save->dropped_for_uid == 0)
			continue;
		e_info(box->event, "tresor: a duplicate of UID %u kept: it came "
		       "with other mails in one transaction, out of which "
		       "mdbox can't take it", save->dropped_for_uid);
		save->dropped_for_uid = 0;
		save->dropped_for_seq = 0;
		save->dropped_by_content = FALSE;
	}
}

/* Journals the records of a committed transaction and ends its intent
   (which stays, for the next writer, when the append fails); the result
   is in tt->journal_ret. */
static void
tresor_transaction_journal_committed(struct mailbox *box,
				     struct tresor_transaction *tt,
				     tresor_journal *journal,
				     const char *mailbox_guid,
				     struct mail_transaction_commit_changes *changes)
{
	char err[512];

	T_BEGIN {
		tt->journal_ret = tresor_transaction_journal(box, tt, journal,
			mailbox_guid, changes);
	} T_END;
	tt->journaled = TRUE;
	if (tt->journal_ret == 0 &&
	    tresor_journal_end_intent(journal, err, sizeof(err)) < 0) {
		/* the next writer finds its records journaled: harmless */
		e_warning(box->event, "tresor: %s", err);
	}
}

/* Whether every save's GUID is known before the commit ends (a copy that
   fell back to saving without one is looked up after it). */
static bool tresor_transaction_guids_known(const struct tresor_mailbox *tbox,
					   const struct tresor_transaction *tt)
{
	const struct tresor_save *save;

	if (!tbox->save_guids)
		return TRUE;
	array_foreach(&tt->saves, save) {
		if (save->guid == NULL && save->dropped_for_uid == 0)
			return FALSE;
	}
	return TRUE;
}

/* sdbox, mdbox: called by Dovecot's commit once the index transaction is
   written (the mails are there, with their UIDs) while the folder's index
   is still locked. The records are journaled here and the journal lock is
   given up, so that the journal's order is still the order in which the
   mails appeared, while the rest of Dovecot's commit (the index written
   out, the folder's fdatasync) overlaps with the next commit of the user.
   Dovecot's locks here block until free; maildir's uidlist dotlock and
   mbox's lock are retried with sleeps, so those formats keep the journal
   lock to the end of the commit instead. */
static void
tresor_transaction_save_commit_post(struct mail_save_context *ctx,
				    struct mail_index_transaction_commit_result *result)
{
	struct mailbox_transaction_context *t = ctx->transaction;
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(t->box);
	struct tresor_transaction *tt = TRESOR_CONTEXT(t);

	/* commit_size is 0 when the index transaction failed: nothing was
	   stored, and the caller ends the intent */
	if (tt != NULL && tt->commit_journal != NULL &&
	    result->commit_size > 0) {
		tresor_transaction_journal_committed(t->box, tt,
			tt->commit_journal, tt->commit_mailbox_guid,
			t->changes);
		i_assert(tt->locked);
		tt->locked = FALSE;
		tresor_user_unlock(tbox->tuser);
	}
	tbox->module_ctx.super.transaction_save_commit_post(ctx, result);
}

/* Ends a transaction that stored nothing (its saves were dropped
   duplicates), with the changes a commit reports. */
static void
tresor_transaction_commit_nothing(struct mailbox_transaction_context *t,
				  struct mail_transaction_commit_changes *changes_r)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(t->box);

	i_zero(changes_r);
	changes_r->pool = pool_alloconly_create(
		MEMPOOL_GROWING"tresor commit changes", 128);
	p_array_init(&changes_r->saved_uids, changes_r->pool, 4);
	tbox->module_ctx.super.transaction_rollback(t);
}

static int
tresor_transaction_commit(struct mailbox_transaction_context *t,
			  struct mail_transaction_commit_changes *changes_r)
{
	struct mailbox *box = t->box;
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	struct tresor_transaction *tt = TRESOR_CONTEXT_REQUIRE(t);
	const char *mailbox_guid, *error;
	tresor_journal *journal;
	char err[512];
	bool stores;
	int ret;

	if (tresor_transaction_refuse(t, tt)) {
		tbox->module_ctx.super.transaction_rollback(t);
		tresor_transaction_free(tbox, tt);
		return -1;
	}
	if (tt->pool == NULL ||
	    (array_count(&tt->saves) == 0 && array_count(&tt->expunges) == 0)) {
		ret = tbox->module_ctx.super.transaction_commit(t, changes_r);
		tresor_transaction_free(tbox, tt);
		return ret;
	}

	/* Nothing is stored that can't be journaled: a journal that can't
	   even be opened and locked fails the save before the commit. The
	   lock is held across the commit: it serialises the user's commits,
	   so maildir's uidlist lock (which ASSIGN_UIDS waits for, sleeping
	   up to 100 ms between tries) is free when the commit needs it, and
	   the journal's order is the order in which mails appeared. */
	if ((journal = tresor_user_journal(tbox->tuser, &error)) == NULL ||
	    (!tt->locked && tresor_user_lock(tbox->tuser, &error) < 0)) {
		e_error(box->event, "tresor: %s", error);
		tresor_set_journal_error(box);
		tbox->module_ctx.super.transaction_rollback(t);
		tresor_transaction_free(tbox, tt);
		return -1;
	}
	tt->locked = TRUE;
	if ((mailbox_guid = tresor_mailbox_guid(box)) == NULL) {
		tbox->module_ctx.super.transaction_rollback(t);
		tresor_transaction_free(tbox, tt);
		return -1;
	}
	mailbox_guid = t_strdup(mailbox_guid);
	stores = tresor_transaction_stores(tt);
	if (stores)
		tresor_transaction_keep_written_duplicates(box, tt);
	if (tresor_transaction_write_intent(box, tt, journal,
					    mailbox_guid) < 0) {
		tbox->module_ctx.super.transaction_rollback(t);
		tresor_transaction_free(tbox, tt);
		return -1;
	}

	/* t is freed by the commit; tt lives on. */
	if (!stores) {
		/* Only dropped duplicates: nothing to store. Committed, a
		   save context whose only mail was cancelled breaks two
		   formats: mbox can't commit one that never opened its file,
		   and mdbox cut the storage file it had opened for appending
		   to nothing - the mails already in it with it. */
		tresor_transaction_commit_nothing(t, changes_r);
		ret = 0;
	} else {
		if (tbox->journal_at_commit_point &&
		    tresor_transaction_guids_known(tbox, tt)) {
			tt->commit_journal = journal;
			tt->commit_mailbox_guid = mailbox_guid;
		}
		ret = tbox->module_ctx.super.transaction_commit(t, changes_r);
		tt->commit_journal = NULL;
	}
	if (tt->journaled) {
		/* at the commit point; a failure after it still fails the
		   commit for the client */
		if (ret == 0)
			ret = tt->journal_ret;
	} else if (ret < 0) {
		/* nothing was stored */
		if (tresor_journal_end_intent(journal, err, sizeof(err)) < 0)
			e_warning(box->event, "tresor: %s", err);
	} else {
		tresor_transaction_journal_committed(box, tt, journal,
						     mailbox_guid, changes_r);
		ret = tt->journal_ret;
	}
	/* A dropped duplicate reports the earlier copy's UID as its own
	   (APPENDUID, delivery logs), which keeps Dovecot's one-UID-per-
	   save accounting intact. */
	if (ret == 0)
		seq_range_array_merge(&changes_r->saved_uids, &tt->dropped_uids);
	tresor_transaction_free(tbox, tt); /* releases the lock, if held */
	if (ret == 0 && tresor_journal_flush(journal, err, sizeof(err)) < 0) {
		e_error(box->event, "tresor: journal write failed: %s", err);
		tresor_set_journal_error(box);
		ret = -1;
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* mailboxes                                                          */

static bool tresor_mailbox_is_protected(struct mailbox *box)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);

	return tbox->archive ||
		tresor_config_has_archive_children(tbox->tuser->cfg,
			mailbox_get_vname(box),
			mail_namespace_get_sep(mailbox_list_get_namespace(box->list)));
}

static int tresor_mailbox_delete(struct mailbox *box)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	struct mail_user *user = box->storage->user;
	const char *reason, *mailbox_guid, *error;
	tresor_record rec;

	if (tresor_mailbox_is_protected(box)) {
		reason = tresor_archive_error(box, "DELETE");
		tresor_storage_journal_denied(box, "delete", NULL, reason);
		mail_storage_set_error(box->storage, MAIL_ERROR_PERM, reason);
		return -1;
	}
	if (!tbox->journaled)
		return tbox->module_ctx.super.delete_box(box);

	mailbox_guid = tresor_mailbox_guid(box);
	mailbox_guid = mailbox_guid == NULL ? NULL : t_strdup(mailbox_guid);
	if (tbox->module_ctx.super.delete_box(box) < 0)
		return -1;
	if (mailbox_guid == NULL)
		return 0; /* never existed as a mailbox with mails */
	/* The mails of a deleted folder are gone by the user's will. */
	i_zero(&rec);
	rec.event = "delete";
	rec.mailbox = mailbox_get_vname(box);
	rec.mailbox_guid = mailbox_guid;
	if (tresor_user_append(user, tbox->tuser, &rec, NULL, &error) < 0)
		e_error(box->event, "tresor: can't journal the deletion: %s",
			error);
	return 0;
}

/* A folder renamed along with its parent. */
struct tresor_renamed_child {
	const char *old_vname;
	const char *suffix; /* after the parent's name */
	const char *mailbox_guid;
};
ARRAY_DEFINE_TYPE(tresor_renamed_child, struct tresor_renamed_child);

/* The journaled folders below src, with their GUIDs: a rename moves them
   too, and each gets a rename record of its own so that the journal keeps
   knowing every folder by its name (verify: IDENTITY). */
static void
tresor_rename_children(struct mailbox *src,
		       ARRAY_TYPE(tresor_renamed_child) *children)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(src);
	char sep = mail_namespace_get_sep(mailbox_list_get_namespace(src->list));
	const char *prefix = t_strdup_printf("%s%c", src->vname, sep);
	struct mailbox_list_iterate_context *iter;
	const struct mailbox_info *info;
	struct mailbox_metadata metadata;
	struct tresor_renamed_child *child;
	struct mailbox *box;

	iter = mailbox_list_iter_init(src->list, t_strconcat(prefix, "*", NULL),
				      MAILBOX_LIST_ITER_NO_AUTO_BOXES |
				      MAILBOX_LIST_ITER_RETURN_NO_FLAGS);
	while ((info = mailbox_list_iter_next(iter)) != NULL) {
		if ((info->flags & (MAILBOX_NOSELECT | MAILBOX_NONEXISTENT)) != 0 ||
		    !str_begins_with(info->vname, prefix) ||
		    tresor_config_is_journaled(tbox->tuser->cfg, info->vname,
					       sep) == 0)
			continue;
		box = mailbox_alloc(src->list, info->vname,
				    MAILBOX_FLAG_IGNORE_ACLS);
		if (mailbox_get_metadata(box, MAILBOX_METADATA_GUID,
					 &metadata) == 0) {
			child = array_append_space(children);
			child->old_vname = t_strdup(info->vname);
			child->suffix = t_strdup(info->vname + strlen(src->vname));
			child->mailbox_guid =
				t_strdup(guid_128_to_string(metadata.guid));
		}
		mailbox_free(&box);
	}
	if (mailbox_list_iter_deinit(&iter) < 0) {
		e_warning(src->event, "tresor: listing the folders below %s "
			  "for the journal failed", src->vname);
	}
}

static int tresor_mailbox_rename(struct mailbox *src, struct mailbox *dest)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(src);
	struct mail_user *user = src->storage->user;
	ARRAY_TYPE(tresor_renamed_child) children;
	const struct tresor_renamed_child *child;
	const char *reason, *mailbox_guid, *error;
	tresor_record rec;

	if (tresor_mailbox_is_protected(src)) {
		reason = tresor_archive_error(src, "RENAME");
		tresor_storage_journal_denied(src, "rename", NULL, reason);
		mail_storage_set_error(src->storage, MAIL_ERROR_PERM, reason);
		return -1;
	}
	t_array_init(&children, 4);
	tresor_rename_children(src, &children);
	if (!tbox->journaled && array_count(&children) == 0)
		return tbox->module_ctx.super.rename_box(src, dest);

	mailbox_guid = !tbox->journaled ? NULL : tresor_mailbox_guid(src);
	mailbox_guid = mailbox_guid == NULL ? NULL : t_strdup(mailbox_guid);
	if (tbox->module_ctx.super.rename_box(src, dest) < 0)
		return -1;
	i_zero(&rec);
	rec.event = "rename";
	if (mailbox_guid != NULL) {
		rec.mailbox = mailbox_get_vname(src);
		rec.mailbox_guid = mailbox_guid;
		rec.new_mailbox = mailbox_get_vname(dest);
		if (tresor_user_append(user, tbox->tuser, &rec, NULL, &error) < 0)
			e_error(src->event, "tresor: can't journal the rename: %s",
				error);
	}
	array_foreach(&children, child) {
		rec.mailbox = child->old_vname;
		rec.mailbox_guid = child->mailbox_guid;
		rec.new_mailbox = t_strconcat(mailbox_get_vname(dest),
					      child->suffix, NULL);
		rec.service = rec.session = NULL;
		if (tresor_user_append(user, tbox->tuser, &rec, NULL, &error) < 0)
			e_error(src->event, "tresor: can't journal the rename "
				"of %s: %s", child->old_vname, error);
	}
	return 0;
}

/* Why a mailbox may not take this GUID, or NULL: it belongs to another
   folder in the store, or the journal accounts mails to it. With two
   folders under one GUID one folder's records could stand in for or
   cancel the other's (verify reports that as IDENTITY). */
static const char *
tresor_mailbox_guid_taken(struct mailbox *box, const guid_128_t guid)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	const char *guid_str = guid_128_to_string(guid), *owner = NULL;
	const char *error;
	tresor_journal *journal;
	char err[512];
	int ret;

	if (mailbox_guid_cache_find(box->list, guid, &owner) < 0)
		return t_strdup_printf("the folders' GUIDs can't be listed");
	if (owner != NULL && strcmp(owner, box->vname) != 0) {
		return t_strdup_printf("the mailbox GUID %s is the folder %s's",
				       guid_str, owner);
	}
	if ((journal = tresor_user_journal(tbox->tuser, &error)) == NULL)
		return t_strdup_printf("the journal can't be read: %s", error);
	ret = tresor_journal_mailbox_has_saves(journal, guid_str, err,
					       sizeof(err));
	if (ret < 0)
		return t_strdup_printf("the journal can't be read: %s", err);
	if (ret > 0) {
		return t_strdup_printf("the journal accounts mails to the "
				       "mailbox GUID %s", guid_str);
	}
	return NULL;
}

/* Refuses a GUID asked for (doveadm mailbox create -g, mailbox update
   --mailbox-guid, dsync) that is taken, and any new GUID for an archive
   folder; journals the refusal. */
static int tresor_mailbox_guid_check(struct mailbox *box,
				     const struct mailbox_update *update,
				     bool existing)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);
	const char *current, *why, *reason;

	if (update == NULL || guid_128_is_empty(update->mailbox_guid))
		return 0;
	if (existing) {
		current = tresor_mailbox_guid(box);
		if (current != NULL &&
		    strcmp(current, guid_128_to_string(update->mailbox_guid)) == 0)
			return 0; /* unchanged */
	}
	if (existing && tbox->archive)
		why = "an archive folder keeps its mailbox GUID";
	else
		why = tresor_mailbox_guid_taken(box, update->mailbox_guid);
	if (why == NULL)
		return 0;
	reason = t_strdup_printf("%s of %s with the mailbox GUID %s refused: "
				 "%s (tresor)", existing ? "Update" : "Creation",
				 mailbox_get_vname(box),
				 guid_128_to_string(update->mailbox_guid), why);
	tresor_storage_journal_denied(box, "mailbox-guid", NULL, reason);
	mail_storage_set_error(box->storage, MAIL_ERROR_PERM, reason);
	return -1;
}

static int tresor_mailbox_create(struct mailbox *box,
				 const struct mailbox_update *update,
				 bool directory)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);

	if (tresor_mailbox_guid_check(box, update, FALSE) < 0)
		return -1;
	return tbox->module_ctx.super.create_box(box, update, directory);
}

static int tresor_mailbox_update(struct mailbox *box,
				 const struct mailbox_update *update)
{
	struct tresor_mailbox *tbox = TRESOR_CONTEXT_REQUIRE(box);

	if (tresor_mailbox_guid_check(box, update, TRUE) < 0)
		return -1;
	return tbox->module_ctx.super.update_box(box, update);
}

/* Why the plugin can't vouch for what a storage serves, or NULL. The
   journal hashes a mail as it is read for the store (see
   tresor_stored_form()): that is what IMAP serves for mbox, maildir and
   the dbox formats. A remote store (imapc, pop3c) serves what another
   server holds, and mbox with header MD5s (pop3_uidl_format with %m)
   adds an X-Delivery-ID header of its own to every mail it stores. */
static const char *tresor_storage_unsupported(struct mail_storage *storage)
{
	const char *name = storage->name;

	if (strcmp(name, "imapc") == 0 || strcmp(name, "pop3c") == 0) {
		return t_strdup_printf(TRESOR_MAIL_FORMAT_SETTING ": the %s mailbox format "
			"keeps mail on another server, whose copy the tresor "
			"plugin can't protect (supported: mbox, maildir, sdbox, "
			"mdbox)", name);
	}
	if (strcmp(name, MBOX_STORAGE_NAME) == 0 &&
	    (storage->flags & MAIL_STORAGE_FLAG_KEEP_HEADER_MD5) != 0) {
		return "pop3_uidl_format: with " TRESOR_POP3_UIDL_MD5 ", mbox "
			"adds an X-Delivery-ID header to every mail it stores, "
			"which the tresor plugin can't hash before the save "
			"(use another pop3_uidl_format, e.g. "
			TRESOR_POP3_UIDL_EXAMPLE ")";
	}
	return NULL;
}

struct tresor_user_module tresor_user_module =
	MODULE_CONTEXT_INIT(&mail_user_module_register);

static void tresor_user_deinit(struct mail_user *user)
{
	struct tresor_user *tuser = TRESOR_USER_CONTEXT_REQUIRE(user);

	tresor_config_free(tuser->cfg);
	pool_unref(&tuser->invoice_pool);
	tuser->module_ctx.super.deinit(user);
}

void tresor_mail_user_created(struct mail_user *user)
{
	struct mail_user_vfuncs *v = user->vlast;
	struct tresor_user *tuser;
	tresor_config *cfg;
	const char *dir, *error;

	/* LMTP's raw mail user and similar internal users hold no mail of
	   the account. */
	if (user->autocreated)
		return;

	if (tresor_user_config_load(user, &cfg, &dir, &error) < 0) {
		/* Fails mail_user_init(): the login or delivery is refused
		   with this error rather than running unprotected. */
		user->error = p_strdup(user->pool, error);
		return;
	}
	tuser = p_new(user->pool, struct tresor_user, 1);
	tuser->module_ctx.super = *v;
	user->vlast = &tuser->module_ctx.super;
	v->deinit = tresor_user_deinit;
	tuser->cfg = cfg;
	tuser->dir = p_strdup(user->pool, dir);
	MODULE_CONTEXT_SET(user, tresor_user_module, tuser);
}

void tresor_mail_namespaces_created(struct mail_namespace *namespaces)
{
	struct mail_namespace *ns;
	const char *reason;

	if (TRESOR_USER_CONTEXT(namespaces->user) == NULL)
		return;
	for (ns = namespaces; ns != NULL; ns = ns->next) {
		if (ns->storage == NULL ||
		    (reason = tresor_storage_unsupported(ns->storage)) == NULL)
			continue;
		/* Fails the login or delivery with this error, rather than
		   running with an archive that can't be verified. */
		namespaces->user->error = p_strdup_printf(
			namespaces->user->pool, "tresor: namespace %s: %s",
			ns->prefix[0] == '\0' ? "(inbox)" : ns->prefix, reason);
		return;
	}
}

void tresor_mailbox_allocated(struct mailbox *box)
{
	struct tresor_user *tuser = TRESOR_USER_CONTEXT(box->storage->user);
	struct mailbox_vfuncs *v = box->vlast;
	struct tresor_mailbox *tbox;
	char sep;

	if (tuser == NULL)
		return;
	/* A virtual folder only shows mails stored (and protected) in
	   their real folders. */
	if (strcmp(box->storage->name, "virtual") == 0)
		return;

	sep = mail_namespace_get_sep(mailbox_list_get_namespace(box->list));
	tbox = p_new(box->pool, struct tresor_mailbox, 1);
	tbox->save_guids = (box->storage->class_flags &
			    MAIL_STORAGE_CLASS_FLAG_HAVE_MAIL_SAVE_GUIDS) != 0;
	tbox->mbox = strcmp(box->storage->name, MBOX_STORAGE_NAME) == 0;
	/* (MDBOX_STORAGE_NAME; its header pulls in all of dbox) */
	tbox->mdbox = strcmp(box->storage->name, "mdbox") == 0;
	tbox->journal_at_commit_point = tbox->mdbox ||
		strcmp(box->storage->name, "sdbox") == 0;
	tbox->module_ctx.super = *v;
	box->vlast = &tbox->module_ctx.super;
	tbox->tuser = tuser;
	tbox->archive = tresor_config_is_archive(tuser->cfg, box->vname,
						 sep) != 0;
	tbox->journaled = tresor_config_is_journaled(tuser->cfg, box->vname,
						     sep) != 0;

	v->transaction_begin = tresor_transaction_begin;
	v->transaction_commit = tresor_transaction_commit;
	v->transaction_rollback = tresor_transaction_rollback;
	v->save_begin = tresor_save_begin;
	v->save_finish = tresor_save_finish;
	v->save_cancel = tresor_save_cancel;
	v->copy = tresor_copy;
	if (tbox->journal_at_commit_point) {
		v->transaction_save_commit_post =
			tresor_transaction_save_commit_post;
	}
	v->delete_box = tresor_mailbox_delete;
	v->rename_box = tresor_mailbox_rename;
	v->create_box = tresor_mailbox_create;
	v->update_box = tresor_mailbox_update;
	MODULE_CONTEXT_SET(box, tresor_storage_module, tbox);
}
