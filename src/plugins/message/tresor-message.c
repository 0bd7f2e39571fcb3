/* dovecot-tresor: a message as the core's analyses take it (invoice and
   DMARC report recognition, tresor-invoice.h), for the Sieve extension and
   `doveadm tresor dmarc`.

   The message is read, never changed: Dovecot's MIME parser walks it, the
   top-level header fields go to the core unfolded, and every leaf part goes
   to the core transfer-decoded (base64 / quoted-printable undone; text
   converted to UTF-8 from its charset, other parts as bytes) with its
   lowercase type/subtype, its file name (RFC 2231 / RFC 2047 decoded) and
   whether it is an attachment. Parts above TRESOR_MESSAGE_MAX_PART_SIZE are
   skipped with a log line. */
#include "lib.h"
#include "str.h"
#include "buffer.h"
#include "str-sanitize.h"
#include "istream.h"
#include "unichar.h"
#include "charset-utf8.h"
#include "rfc822-parser.h"
#include "rfc2231-parser.h"
#include "message-parser.h"
#include "message-decoder.h"
#include "message-header-decode.h"
#include "mail-storage.h"

#include <ctype.h>

#include "tresor-message.h"

/*
 * Header values and parameters
 */

/* RFC 5322 unfolding: the line breaks go, the whitespace after them
   stays. (The parser runs with DROP_CR, but a lone CR may remain.) */
static const char *
tresor_message_unfold(const unsigned char *value, size_t len)
{
	string_t *str = t_str_new(len + 1);
	size_t i;

	for (i = 0; i < len; i++) {
		if (value[i] == '\n')
			continue;
		if (value[i] == '\r' && i + 1 < len && value[i + 1] == '\n')
			continue;
		str_append_c(str, value[i]);
	}
	return str_c(str);
}

/* Text that is certainly UTF-8 (invalid sequences replaced). */
static const char *tresor_message_valid_utf8(const char *text)
{
	string_t *str;

	str = t_str_new(strlen(text) + 8);
	if (uni_utf8_get_valid_data((const unsigned char *)text, strlen(text),
				    str))
		return text;
	return str_c(str);
}

/* An RFC 2231 extended value "charset'language'percent-encoded" as UTF-8,
   or NULL when it is malformed. */
static const char *tresor_message_rfc2231_value_decode(const char *value)
{
	const char *p, *charset, *encoded;
	buffer_t *raw;
	string_t *out;
	enum charset_result result;

	p = strchr(value, '\'');
	if (p == NULL)
		return NULL;
	charset = t_strdup_until(value, p);
	p = strchr(p + 1, '\'');
	if (p == NULL)
		return NULL;
	encoded = p + 1;

	raw = t_buffer_create(strlen(encoded) + 1);
	for (p = encoded; *p != '\0'; p++) {
		if (*p == '%' && i_isxdigit(p[1]) && i_isxdigit(p[2])) {
			char hex[3] = { p[1], p[2], '\0' };

			buffer_append_c(raw, (unsigned char)strtoul(hex, NULL, 16));
			p += 2;
		} else {
			buffer_append_c(raw, *p);
		}
	}
	/* strings with NULs are no file names */
	if (memchr(raw->data, '\0', raw->used) != NULL)
		return NULL;
	buffer_append_c(raw, '\0');

	if (*charset == '\0')
		charset = "UTF-8";
	out = t_str_new(raw->used + 16);
	if (charset_to_utf8_str(charset, NULL, raw->data, out, &result) < 0) {
		/* unknown charset: keep what is valid UTF-8 */
		return tresor_message_valid_utf8((const char *)raw->data);
	}
	return str_c(out);
}

/* A plain parameter value, with RFC 2047 encoded-words decoded (as many
   mailers write file names), as UTF-8. */
static const char *tresor_message_param_value_decode(const char *value)
{
	buffer_t *buf;

	buf = t_buffer_create(strlen(value) + 16);
	message_header_decode_utf8((const unsigned char *)value, strlen(value),
				   buf, NULL);
	buffer_append_c(buf, '\0');
	return tresor_message_valid_utf8(buf->data);
}

/* Parses "token[/token] *(; param)" (Content-Type when content_type is
   TRUE, else Content-Disposition). Returns the lowercase type (NULL when
   unparseable) and the decoded value of the parameter named `param' (with
   `param*' preferred, as RFC 6266 asks). */
static const char *
tresor_message_parse_mime_header(const char *value, bool content_type,
				     const char *param, const char **param_value_r)
{
	struct rfc822_parser_context parser;
	const char *const *results;
	const char *type = NULL, *plain = NULL, *extended = NULL;
	string_t *str;
	size_t plen = strlen(param);
	int ret;

	*param_value_r = NULL;
	if (value == NULL)
		return NULL;

	rfc822_parser_init(&parser, (const unsigned char *)value,
			   strlen(value), NULL);
	rfc822_skip_lwsp(&parser);
	str = t_str_new(64);
	ret = content_type ? rfc822_parse_content_type(&parser, str) :
		rfc822_parse_mime_token(&parser, str);
	if (ret >= 0 && str_len(str) > 0)
		type = t_str_lcase(str_c(str));

	/* The parameters even after a broken type: a file name is still
	   worth having. */
	if (ret >= 0) {
		(void)rfc2231_parse(&parser, &results);
		for (; *results != NULL; results += 2) {
			const char *key = results[0];

			if (strncasecmp(key, param, plen) != 0)
				continue;
			if (key[plen] == '\0' && plain == NULL)
				plain = results[1];
			else if (key[plen] == '*' && key[plen + 1] == '\0' &&
				 extended == NULL)
				extended = results[1];
		}
	}
	rfc822_parser_deinit(&parser);

	if (extended != NULL)
		*param_value_r = tresor_message_rfc2231_value_decode(extended);
	if (*param_value_r == NULL && plain != NULL)
		*param_value_r = tresor_message_param_value_decode(plain);
	if (*param_value_r != NULL && **param_value_r == '\0')
		*param_value_r = NULL;
	return type;
}

/*
 * Message walk
 */

struct tresor_message_walk {
	struct event *event;
	const char *log_prefix;
	tresor_invoice_message *msg;

	/* the part being read */
	struct message_part *part;
	unsigned int part_index;
	char *content_type_hdr, *disposition_hdr;
	bool collecting, skipping;
	buffer_t *data;
	const char *content_type, *filename;
	bool is_attachment;

	unsigned int parts_added;
	size_t total_size;
	bool total_exceeded, parts_exceeded;
};

static void
tresor_message_walk_part_begin(struct tresor_message_walk *walk,
				   struct message_part *part)
{
	walk->part = part;
	walk->part_index++;
	i_free_and_null(walk->content_type_hdr);
	i_free_and_null(walk->disposition_hdr);
	walk->collecting = FALSE;
	walk->skipping = FALSE;
	walk->content_type = NULL;
	walk->filename = NULL;
	walk->is_attachment = FALSE;
	buffer_set_used_size(walk->data, 0);
}

/* At the end of a part's header: decides whether it is a leaf part to
   hand to the core, and with which type, name and disposition. */
static void
tresor_message_walk_part_headers_done(struct tresor_message_walk *walk)
{
	struct message_part *part = walk->part;
	const char *ctype, *dtype, *name = NULL, *filename = NULL;

	if ((part->flags & (MESSAGE_PART_FLAG_MULTIPART |
			    MESSAGE_PART_FLAG_MESSAGE_RFC822)) != 0) {
		/* a container: its children come as parts of their own */
		return;
	}
	if (walk->total_exceeded)
		return;
	if (walk->parts_added >= TRESOR_MESSAGE_MAX_PARTS) {
		if (!walk->parts_exceeded) {
			e_info(walk->event, "%s"
			       "more than %u MIME parts: the rest of the "
			       "message is not analysed", walk->log_prefix,
			       TRESOR_MESSAGE_MAX_PARTS);
			walk->parts_exceeded = TRUE;
		}
		return;
	}

	ctype = NULL;
	if ((part->flags & MESSAGE_PART_FLAG_IS_MIME) != 0) {
		ctype = tresor_message_parse_mime_header(walk->content_type_hdr, TRUE,
							     "name", &name);
	}
	if (ctype == NULL || strchr(ctype, '/') == NULL) {
		/* none, or invalid: RFC 2045 5.2 default */
		ctype = "text/plain";
	}
	dtype = tresor_message_parse_mime_header(walk->disposition_hdr,
						     FALSE,
						     "filename", &filename);

	/* The strings must outlive this data stack frame: the walk runs in
	   one T_BEGIN for the whole message. */
	walk->content_type = ctype;
	walk->filename = filename != NULL ? filename : name;
	walk->is_attachment = (dtype != NULL &&
			       strcmp(dtype, "attachment") == 0) ||
		strncmp(ctype, "text/", 5) != 0;
	walk->collecting = TRUE;
}

static void
tresor_message_walk_part_data(struct tresor_message_walk *walk,
				  const unsigned char *data, size_t size)
{
	if (!walk->collecting || walk->skipping || size == 0)
		return;
	if (walk->data->used + size > TRESOR_MESSAGE_MAX_PART_SIZE) {
		e_info(walk->event, "%s"
		       "MIME part %u (%s%s%s) is larger than %zu bytes "
		       "decoded: not analysed", walk->log_prefix,
		       walk->part_index,
		       walk->content_type,
		       walk->filename != NULL ? ", " : "",
		       walk->filename != NULL ?
		       str_sanitize(walk->filename, 80) : "",
		       TRESOR_MESSAGE_MAX_PART_SIZE);
		walk->skipping = TRUE;
		buffer_set_used_size(walk->data, 0);
		return;
	}
	buffer_append(walk->data, data, size);
}

static void
tresor_message_walk_part_end(struct tresor_message_walk *walk)
{
	if (!walk->collecting || walk->skipping)
		return;
	walk->collecting = FALSE;
	if (walk->total_size + walk->data->used >
	    TRESOR_MESSAGE_MAX_TOTAL_SIZE) {
		if (!walk->total_exceeded) {
			e_info(walk->event, "%s"
			       "the message's parts exceed %zu bytes decoded: "
			       "MIME part %u and the rest are not analysed",
			       walk->log_prefix, TRESOR_MESSAGE_MAX_TOTAL_SIZE, walk->part_index);
			walk->total_exceeded = TRUE;
		}
		return;
	}
	walk->total_size += walk->data->used;
	walk->parts_added++;
	tresor_invoice_message_add_part(walk->msg, walk->content_type,
					walk->filename,
					walk->is_attachment ? 1 : 0,
					walk->data->used == 0 ? "" :
					walk->data->data, walk->data->used);
}

static void tresor_message_walk_header(struct tresor_message_walk *walk,
					   struct message_header_line *hdr)
{
	const char *value;

	if (hdr->eoh || hdr->name_len == 0)
		return;
	if (hdr->continues) {
		/* wait for the whole field */
		hdr->use_full_value = TRUE;
		return;
	}
	value = tresor_message_unfold(hdr->full_value, hdr->full_value_len);

	if (walk->part->parent == NULL) {
		/* the message's own header */
		tresor_invoice_message_add_header(walk->msg, hdr->name, value);
	}
	if (strcasecmp(hdr->name, "Content-Type") == 0) {
		if (walk->content_type_hdr == NULL)
			walk->content_type_hdr = i_strdup(value);
	} else if (strcasecmp(hdr->name, "Content-Disposition") == 0) {
		if (walk->disposition_hdr == NULL)
			walk->disposition_hdr = i_strdup(value);
	}
}

int tresor_message_fill(struct istream *input, struct event *event,
			const char *log_prefix, tresor_invoice_message *msg,
			const char **error_r)
{
	const struct message_parser_settings parser_set = {
		.hdr_flags = MESSAGE_HEADER_PARSER_FLAG_SKIP_INITIAL_LWSP |
			MESSAGE_HEADER_PARSER_FLAG_DROP_CR,
		.flags = 0,
	};
	struct tresor_message_walk walk;
	struct message_parser_ctx *parser;
	struct message_decoder_context *decoder;
	struct message_block block, decoded;
	struct message_part *parts;
	pool_t pool;
	int ret;

	i_zero(&walk);
	walk.event = event;
	walk.log_prefix = log_prefix;
	walk.msg = msg;
	walk.data = buffer_create_dynamic(default_pool, 8192);

	pool = pool_alloconly_create("tresor invoice message parts", 4096);
	parser = message_parser_init(pool, input, &parser_set);
	/* bodies of non-text parts as bytes, text converted to UTF-8 */
	decoder = message_decoder_init(NULL, MESSAGE_DECODER_FLAG_RETURN_BINARY);

	while ((ret = message_parser_parse_next_block(parser, &block)) > 0) {
		if (block.part != walk.part) {
			tresor_message_walk_part_end(&walk);
			tresor_message_walk_part_begin(&walk, block.part);
		}
		if (block.hdr != NULL) {
			T_BEGIN {
				tresor_message_walk_header(&walk,
							       block.hdr);
			} T_END;
			/* the decoder learns Content-Transfer-Encoding and
			   the charset from the header lines */
			(void)message_decoder_decode_next_block(decoder, &block,
								&decoded);
			continue;
		}
		if (block.size == 0) {
			/* end of this part's header */
			(void)message_decoder_decode_next_block(decoder, &block,
								&decoded);
			tresor_message_walk_part_headers_done(&walk);
			continue;
		}
		if (!walk.collecting || walk.skipping)
			continue;
		if (message_decoder_decode_next_block(decoder, &block,
						      &decoded))
			tresor_message_walk_part_data(&walk, decoded.data,
							  decoded.size);
	}
	tresor_message_walk_part_end(&walk);

	message_decoder_deinit(&decoder);
	message_parser_deinit(&parser, &parts);
	pool_unref(&pool);
	buffer_free(&walk.data);
	i_free(walk.content_type_hdr);
	i_free(walk.disposition_hdr);

	if (input->stream_errno != 0) {
		*error_r = t_strdup_printf("read(%s) failed: %s",
					   i_stream_get_name(input),
					   i_stream_get_error(input));
		return -1;
	}
	return 0;
}
