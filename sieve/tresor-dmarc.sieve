# dovecot-tresor: DMARC aggregate reports into their own folder
# (docs/invoices.md, "DMARC aggregate reports"). For the mailbox that
# receives the reports of the domain's DMARC record (rua=mailto:...);
# put it before other rules, or include it (RFC 6609).
#
# Every report lands in DMARC; a report that counts mail failing DMARC
# in the company's name - a forger, or an own service set up wrong - is
# flagged $tresor_dmarc_failing. doveadm tresor dmarc -u USER digests
# the folder.
require ["fileinto", "mailbox", "imap4flags", "variables",
         "vnd.tresor.invoice"];

if dmarc_report {
    if dmarc_report :failing {
        addflag "$tresor_dmarc_failing";
    }
    fileinto :create "DMARC";
    stop;
}
